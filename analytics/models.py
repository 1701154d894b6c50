"""Service catalog, appointments and transactions. Money: integer minor units + ISO currency."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower

from clients.models import Source
from tenants.db.sharding import TenantForeignKey
from tenants.models import TenantModel

# A row's `source` (where it came from: manual, csv, square, ...) is `Source`, the same
# vocabulary as a client's (clients.models.Source), not an "external provider"
# (integrations.models.Provider). The stored values are the API's values.


def _external_id_unique(model: str) -> models.UniqueConstraint:
    # External ids are unique per (tenant, source); rows entered by hand have none.
    return models.UniqueConstraint(
        fields=["tenant", "source", "external_id"],
        condition=~models.Q(external_id=""),
        name=f"{model}_external_id_unique",
    )


class ImportedModel(TenantModel):
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    external_id = models.CharField(max_length=255, blank=True)

    class Meta:
        abstract = True


class ServiceCategory(ImportedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "service categories"
        constraints = [
            models.UniqueConstraint("tenant", Lower("name"), name="service_category_unique_name_ci"),
            _external_id_unique("service_category"),
        ]

    def __str__(self) -> str:
        return self.name


class Service(ImportedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    category = TenantForeignKey(
        ServiceCategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="services"
    )
    duration_minutes = models.PositiveIntegerField(default=60)
    price_amount = models.BigIntegerField(default=0, help_text="Minor units (cents).")
    # Priced at the time of sale (Square VARIABLE_PRICING): price_amount is then 0, not a price.
    price_is_variable = models.BooleanField(default=False)
    currency = models.CharField(max_length=3)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "name"], name="service_tenant_name_idx")]
        constraints = [
            _external_id_unique("service"),
            models.CheckConstraint(condition=models.Q(price_amount__gte=0), name="service_price_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class Appointment(ImportedModel):
    class Status(models.TextChoices):
        BOOKED = "booked"
        COMPLETED = "completed"
        CANCELED = "canceled"
        NO_SHOW = "no_show"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = TenantForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments"
    )
    service = TenantForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments")
    staff_name = models.CharField(max_length=100, blank=True)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BOOKED)
    price_amount = models.BigIntegerField(default=0, help_text="Minor units (cents).")
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # INCLUDE columns let the insights (analytics.selectors) answer from the index alone:
        # the period scan needs status and client, the per-client probes (returning clients,
        # rebooking within 60 days) need status. Without them every probe is a heap fetch,
        # and a large tenant's year is thousands of random reads among millions of rows.
        indexes = [
            models.Index(
                fields=["tenant", "start_at"], include=["status", "client"], name="appointment_tenant_start_idx"
            ),
            models.Index(
                fields=["tenant", "client", "start_at"], include=["status"], name="appointment_client_start_idx"
            ),
        ]
        constraints = [
            _external_id_unique("appointment"),
            models.CheckConstraint(
                condition=models.Q(end_at__gte=models.F("start_at")), name="appointment_ends_after_start"
            ),
            models.CheckConstraint(condition=models.Q(price_amount__gte=0), name="appointment_price_not_negative"),
        ]


class Transaction(ImportedModel):
    class Status(models.TextChoices):
        COMPLETED = "completed"
        REFUNDED = "refunded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = TenantForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.SET_NULL, related_name="transactions"
    )
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETED)
    total_amount = models.BigIntegerField(help_text="Minor units (cents): what the client paid, tip and tax included.")
    refunded_amount = models.BigIntegerField(
        default=0, help_text="Minor units refunded so far: the sum of the sale's Refund rows (kept with them)."
    )
    # Parts of total_amount that are not the services' revenue (tip, tax), and what was taken
    # off the list price (discount, already out of total_amount). See docs/insights.md.
    tip_amount = models.BigIntegerField(default=0, help_text="Minor units of total_amount that are a tip.")
    tax_amount = models.BigIntegerField(default=0, help_text="Minor units of total_amount that are tax.")
    discount_amount = models.BigIntegerField(default=0, help_text="Minor units taken off (not in total_amount).")
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The insights filter one tenant's [start, end) instants and read only these columns:
        # with them INCLUDEd, a year of a large tenant (~5,000 rows among 5,000,000) is one
        # index range scan with no heap access (index-only, once the visibility map is set).
        # `id` is included for revenue by service, which joins the period's line items, and
        # for the "fully refunded by the period's end" probe into the refunds.
        # The (tenant, client, time) index answers "did this client buy before the period?".
        indexes = [
            models.Index(
                fields=["tenant", "occurred_at"],
                include=[
                    "status",
                    "currency",
                    "total_amount",
                    "refunded_amount",
                    "tip_amount",
                    "tax_amount",
                    "discount_amount",
                    "client",
                    "id",
                ],
                name="transaction_tenant_time_idx",
            ),
            models.Index(
                fields=["tenant", "client", "occurred_at"], include=["status"], name="transaction_client_time_idx"
            ),
        ]
        constraints = [
            _external_id_unique("transaction"),
            models.CheckConstraint(condition=models.Q(refunded_amount__gte=0), name="transaction_refund_not_negative"),
            # The rules of analytics.rules.check_amounts, held by the database too, so that
            # no writer (an importer, a script) can store a sale the revenue queries miscount.
            models.CheckConstraint(condition=models.Q(total_amount__gte=0), name="transaction_total_not_negative"),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__lte=models.F("total_amount")),
                name="transaction_refund_within_total",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="refunded") | models.Q(refunded_amount=models.F("total_amount")),
                name="transaction_refunded_means_full",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="failed") | models.Q(refunded_amount=0), name="transaction_failed_no_refund"
            ),
            # Written without a sum (tip + tax could overflow bigint inside the check).
            models.CheckConstraint(
                condition=models.Q(tip_amount__gte=0, tax_amount__gte=0, discount_amount__gte=0)
                & models.Q(tip_amount__lte=models.F("total_amount") - models.F("tax_amount")),
                name="transaction_tip_tax_within_total",
            ),
        ]


class Refund(ImportedModel):
    """Money given back for a sale, on the day it was given back.

    The insights count a sale on its own date and a refund on the refund's date, so a March
    refund lowers March and leaves the February already reported alone. The sale's
    `refunded_amount` is the sum of its refunds (written together, the sale row locked).
    `currency` repeats the sale's so that the period scan is index-only.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: refund_transaction_idx leads with (tenant_id, transaction_id).
    transaction = TenantForeignKey(Transaction, on_delete=models.CASCADE, related_name="refunds", db_index=False)
    amount = models.BigIntegerField(help_text="Minor units, in the sale's currency.")
    currency = models.CharField(max_length=3)
    refunded_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The insights' period scan: index-only (the sale is joined by its id).
            models.Index(
                fields=["tenant", "refunded_at"],
                include=["amount", "currency", "transaction"],
                name="refund_tenant_time_idx",
            ),
            # "How much of this sale was refunded by the period's end?"
            models.Index(
                fields=["tenant", "transaction", "refunded_at"],
                include=["amount"],
                name="refund_transaction_idx",
            ),
        ]
        constraints = [
            _external_id_unique("refund"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_positive"),
        ]


class TransactionLineItem(TenantModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    transaction = TenantForeignKey(Transaction, on_delete=models.CASCADE, related_name="line_items")
    service = TenantForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="line_items")
    description = models.CharField(max_length=255, blank=True)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=1)
    amount = models.BigIntegerField(help_text="Line total in minor units, in the transaction's currency.")

    class Meta:
        # Revenue by service reaches line items through their transaction; INCLUDE makes
        # that probe index-only too.
        indexes = [
            models.Index(
                fields=["tenant", "transaction"],
                include=["service", "quantity", "amount"],
                name="line_item_transaction_idx",
            ),
            models.Index(fields=["tenant", "service"], name="line_item_service_idx"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0), name="line_item_amount_not_negative")]


# --- insight aggregates (docs/insights.md, "How the figures are kept") --------------------
#
# Written only by the database: triggers on the tables above recompute the local days a
# write touches, in the same transaction (migration 0008). Never written from Python, except
# by `analytics.aggregates.rebuild` (which calls the same SQL function).


class InsightState(TenantModel):
    """The time zone the aggregates of a tenant are bucketed in. When the tenant's time zone
    differs (it was changed and the aggregates not yet rebuilt), the insights are answered
    from the rows (the raw path) until `rebuild_insight_aggregates` runs."""

    id = models.BigAutoField(primary_key=True)
    timezone = models.CharField(max_length=64)
    rebuilt_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="insight_state_one_per_tenant")]


class InsightDay(TenantModel):
    """One local day and currency: its sales (revenue statuses) and the refunds dated on it.

    Tip and tax shares of refunds are the exact numeric fractions the raw path sums
    (`amount * tip / total`), summed: numeric addition is exact, so the period's sum and its
    one rounding are the raw path's."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    currency = models.CharField(max_length=3)
    sales = models.BigIntegerField()
    gross = models.DecimalField(max_digits=1000, decimal_places=0)
    sale_tips = models.DecimalField(max_digits=1000, decimal_places=0)
    sale_taxes = models.DecimalField(max_digits=1000, decimal_places=0)
    discounts = models.DecimalField(max_digits=1000, decimal_places=0)
    refunds = models.DecimalField(max_digits=1000, decimal_places=0)
    # Unconstrained numeric in the database (exact fractions); see the migration.
    refund_tips = models.DecimalField(max_digits=1000, decimal_places=500)
    refund_taxes = models.DecimalField(max_digits=1000, decimal_places=500)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "day", "currency"], name="insight_day_unique")]


class InsightSpan(TenantModel):
    """Refunds of one local day's sales, by the local day they were given back: what a
    period's end has refunded of its own sales (the average ticket), and which sales were
    fully refunded by then (not transactions)."""

    id = models.BigAutoField(primary_key=True)
    currency = models.CharField(max_length=3)
    sale_day = models.DateField()
    refund_day = models.DateField()
    refunded = models.DecimalField(max_digits=1000, decimal_places=0)
    full_sales = models.BigIntegerField()
    full_discounts = models.DecimalField(max_digits=1000, decimal_places=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sale_day", "refund_day", "currency"], name="insight_span_unique")
        ]


class InsightVisitDay(TenantModel):
    """One local day's completed visits, no-shows and rebooked visits (a property of the
    visit alone: another booking of its client within 60 days)."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    completed = models.BigIntegerField()
    no_shows = models.BigIntegerField()
    rebookable = models.BigIntegerField()
    rebooked = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="insight_visit_day_unique")]


class InsightClientDay(TenantModel):
    """One client's activity on one local day: what makes them active in a period (a
    completed visit, or a sale that is a transaction of any period holding it: `permanent`),
    what a sale fully refunded later still makes them until its full refund day
    (`refunded_in_full_on`, the latest of that day's such sales), and whether the day counts
    as a visit or purchase "before a period" (`earlier_custom`: completed visits and sales
    whose status is completed). No foreign key to the client: the triggers drop the row when
    the client's sales and visits leave the day (an erasure sets them to no client)."""

    id = models.BigAutoField(primary_key=True)
    client_id = models.UUIDField()
    day = models.DateField()
    permanent = models.BigIntegerField()
    earlier_custom = models.BigIntegerField()
    refunded_in_full_on = models.DateField(null=True)
    # On permanent days only (migration 0009): days since the client's previous permanent day
    # (32767 for none or further back), and the least of that and the days since the client's
    # first visit or purchase (-1 for none, or after this day). See InsightActiveDay.
    gap = models.SmallIntegerField(null=True)
    returning_gap = models.SmallIntegerField(null=True)
    # On days of sales refunded in full on a later day (permanent = 0, refunded_in_full_on >
    # day) only: the client's permanent days just before and just after (null: none), so that
    # "no permanent day in the period" is read from the row itself.
    previous_permanent_day = models.DateField(null=True)
    next_permanent_day = models.DateField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "client_id", "day"], name="insight_client_day_unique")]
        indexes = [
            models.Index(
                fields=["tenant", "day"],
                include=["client_id", "permanent", "refunded_in_full_on"],
                name="insight_client_day_day_idx",
            ),
            # The days whose sales were all fully refunded on a later day: the only non-permanent
            # days that can make a client active (in a period ending before that later day).
            models.Index(
                fields=["tenant", "day"],
                include=["client_id", "refunded_in_full_on", "previous_permanent_day", "next_permanent_day"],
                condition=models.Q(permanent=0, refunded_in_full_on__gt=models.F("day")),
                name="insight_client_day_later_idx",
            ),
            # The same days by the day of their full refund: those refunded in full after a
            # recent period's end are a few, whatever the tenant's size (the dashboard's
            # current period reads them here, the previous one by day above).
            models.Index(
                fields=["tenant", "refunded_in_full_on"],
                include=["day", "client_id", "previous_permanent_day", "next_permanent_day"],
                condition=models.Q(permanent=0, refunded_in_full_on__gt=models.F("day")),
                name="insight_client_day_full_idx",
            ),
        ]


class InsightActiveDay(TenantModel):
    """One local day's permanent client-days, as two sorted arrays, so that a period's
    active and returning clients are counted from one row per day (docs/insights.md).

    A client is active in [S, E] by a permanent day when exactly one of its permanent days in
    [S, E] has its previous permanent day before S: the first one. So the period's clients
    are, over its days d, the client-days of d whose gap > d - S. The arrays hold the gaps
    negated, sorted: `width_bucket(S - d - 1, neg_gaps)` (a binary search) counts those with
    -gap <= S - d - 1, i.e. gap > d - S. Returning ones also had their first visit or purchase
    before S: `neg_returning_gaps` likewise. Gaps are capped at 32767 days (a period is
    shorter than 3 years, so d - S never reaches it)."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    neg_gaps = ArrayField(models.SmallIntegerField())
    neg_returning_gaps = ArrayField(models.SmallIntegerField())

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="insight_active_day_unique")]


class InsightClient(TenantModel):
    """Each client's first completed visit or purchase on record (its local day)."""

    id = models.BigAutoField(primary_key=True)
    client_id = models.UUIDField()
    first_day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "client_id"], name="insight_client_unique")]


# --- revenue by service (migration 0011) ---------------------------------------------------
#
# A line's service is kept, not its category: categories are resolved when a period is
# answered (a service moved to another category, or a category deleted, changes no row here).
# `service_id` NULL is "Other" (lines without a service, sales without lines). No foreign key
# to the service: deleting one sets its lines' service to NULL, and the line-item trigger
# moves those days' figures to "Other".


class InsightServiceDay(TenantModel):
    """One local day, currency and service: the exact service money of its lines' shares of
    the day's sales and of the refunds dated that day (whatever the sale's date), summed over
    the period's days and rounded once as the raw statement does; and the quantities of the
    day's sales' lines of the service (InsightServiceSpan's take out those fully refunded by
    a period's end)."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    currency = models.CharField(max_length=3)
    service_id = models.UUIDField(null=True)
    # Exact fractions (a few dozen decimals): numeric addition keeps them exact.
    revenue = models.DecimalField(max_digits=1000, decimal_places=500)
    quantity = models.DecimalField(max_digits=1000, decimal_places=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", "currency", "service_id"],
                name="insight_service_day_unique",
                nulls_distinct=False,
            )
        ]


class InsightServiceSet(TenantModel):
    """One local day, currency and set of services: how many of the day's sales have lines of
    exactly those services (sorted, NULL last for "Other"). A sale counts once per service
    and once per category of its set, whatever the categories are when a period is answered."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    currency = models.CharField(max_length=3)
    services = ArrayField(models.UUIDField(null=True))
    sales = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day", "currency", "services"], name="insight_service_set_unique")
        ]


class InsightServiceSpan(TenantModel):
    """Refunds of one local day's sales with one set of services, by the local day they were
    given back (a row per day with refunds, as InsightSpan): how many of those sales became
    fully refunded that day, their lines' quantities (`full_quantities`, per service in the
    set's order) and their discounts. A period ending on or after that day counts none of
    them (summed over the sets: InsightSpan's `full_sales` and `full_discounts`)."""

    id = models.BigAutoField(primary_key=True)
    currency = models.CharField(max_length=3)
    sale_day = models.DateField()
    refund_day = models.DateField()
    services = ArrayField(models.UUIDField(null=True))
    full_sales = models.BigIntegerField()
    full_quantities = ArrayField(models.DecimalField(max_digits=1000, decimal_places=3))
    full_discounts = models.DecimalField(max_digits=1000, decimal_places=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "sale_day", "refund_day", "currency", "services"], name="insight_service_span_unique"
            )
        ]
        indexes = [
            # A period's whole months given back in the month of its end, up to its end (0014).
            models.Index(fields=["tenant", "refund_day"], name="insight_svc_span_refund_idx"),
        ]


# --- the same by calendar month (migration 0014) -------------------------------------------
#
# Each month row is the sum of its month's day rows, recomputed from them whenever a day of
# the month is (by the same functions, in the same transaction). A period reads its whole
# months here and only its first and last partial months by day: a year of a big tenant reads
# a few hundred rows instead of a few thousand (docs/insights.md, "How the figures are kept").


class InsightServiceMonth(TenantModel):
    """InsightServiceDay's rows of one calendar month (`month`: its first day), summed."""

    id = models.BigAutoField(primary_key=True)
    month = models.DateField()
    currency = models.CharField(max_length=3)
    service_id = models.UUIDField(null=True)
    revenue = models.DecimalField(max_digits=1000, decimal_places=500)
    quantity = models.DecimalField(max_digits=1000, decimal_places=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "month", "currency", "service_id"],
                name="insight_service_month_unique",
                nulls_distinct=False,
            )
        ]


class InsightServiceSetMonth(TenantModel):
    """InsightServiceSet's rows of one calendar month, summed per set of services."""

    id = models.BigAutoField(primary_key=True)
    month = models.DateField()
    currency = models.CharField(max_length=3)
    services = ArrayField(models.UUIDField(null=True))
    sales = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "month", "currency", "services"], name="insight_service_set_month_unique"
            )
        ]


class InsightServiceSpanMonth(TenantModel):
    """InsightServiceSpan's rows by the calendar month of the sale and the calendar month of
    the refund, summed per set of services (`full_quantities` element by element). A period
    reads here the spans of its whole months given back in a month ending by its end; those
    given back in the month of its end, up to its end, by day."""

    id = models.BigAutoField(primary_key=True)
    currency = models.CharField(max_length=3)
    sale_month = models.DateField()
    refund_month = models.DateField()
    services = ArrayField(models.UUIDField(null=True))
    full_sales = models.BigIntegerField()
    full_quantities = ArrayField(models.DecimalField(max_digits=1000, decimal_places=3))
    full_discounts = models.DecimalField(max_digits=1000, decimal_places=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "sale_month", "refund_month", "currency", "services"],
                name="insight_service_span_month_unique",
            )
        ]


class InsightSpanMonth(TenantModel):
    """InsightSpan's rows by the calendar month of the sale and the calendar month of the
    refund, summed: the dashboard reads a period's whole months here (as revenue by service
    reads InsightServiceSpanMonth), the rest by day."""

    id = models.BigAutoField(primary_key=True)
    currency = models.CharField(max_length=3)
    sale_month = models.DateField()
    refund_month = models.DateField()
    refunded = models.DecimalField(max_digits=1000, decimal_places=0)
    full_sales = models.BigIntegerField()
    full_discounts = models.DecimalField(max_digits=1000, decimal_places=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "sale_month", "refund_month", "currency"], name="insight_span_month_unique"
            )
        ]
