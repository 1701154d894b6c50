"""Every change to the service catalog, appointments and transactions.

Each function takes `*, tenant`, owns its transaction (a savepoint inside a request), runs
in the caller's tenant context and looks every id up inside that tenant with
`tenants.models.get_in_tenant`: the object a call is about (a path's id) is NotFound (404),
an object an input names is InvalidInput naming the field (400); "missing" and "another
tenant's" answer alike, so nothing about other tenants leaks. Errors are common.errors'.
Money is integer minor units with an ISO 4217 currency; a float or "12.50" is refused,
never rounded (the input rules: analytics.rules).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from analytics.models import Appointment, Refund, Service, ServiceCategory, Transaction, TransactionLineItem
from analytics.records import (
    CREATED,
    SKIPPED,
    UNCHANGED,
    UPDATED,
    AppointmentRecord,
    CategoryRecord,
    Outcome,
    RefundRecord,
    SaleRecord,
    ServiceRecord,
)
from analytics.rules import (
    REFUND_CLOCK_SKEW,
    check_amounts,
    check_unknown,
    max_length_of,
    validate_bool,
    validate_choice,
    validate_currency,
    validate_duration,
    validate_instant,
    validate_minor_units,
    validate_quantity,
    validate_source,
    validate_text,
)
from clients.models import Client, Source
from common.errors import Conflict, InvalidInput
from tenants.changes import record_change
from tenants.context import require_tenant
from tenants.models import Tenant, User, for_tenant, get_in_tenant

_M = TypeVar("_M", bound=models.Model)

_CATEGORY_NAME = max_length_of(ServiceCategory, "name")
_SERVICE_NAME = max_length_of(Service, "name")
_STAFF_NAME = max_length_of(Appointment, "staff_name")
_EXTERNAL_ID = max_length_of(Transaction, "external_id")
_DESCRIPTION = max_length_of(TransactionLineItem, "description")


@dataclass(frozen=True)
class LineItemInput:
    """One line of a sale: a service (or none: "Other"), a quantity and the line total."""

    amount: int
    service_id: uuid.UUID | str | None = None
    description: str = ""
    quantity: Decimal | int | str = 1


def _referenced(model: type[_M], tenant: Tenant, value: Any, field: str) -> _M | None:
    """The tenant's object an input names (None when it names none), else an error naming
    `field` (400): a missing id and another tenant's answer alike."""
    return None if value is None else get_in_tenant(model, value, tenant=tenant, field=field)


def _save(instance: models.Model, *, external_id_field: bool = True) -> None:
    """Save, turning a unique violation into an error naming the field instead of a 500."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""
        if "external_id" in constraint and external_id_field:
            raise Conflict("external_id", "is already used by another record from this source.") from None
        if "unique_name" in constraint:
            raise Conflict("name", "is already used in this tenant.") from None
        raise


# --- service categories ------------------------------------------------------------------


def service_category_create(
    *, tenant: Tenant, name: str, source: str = Source.MANUAL, external_id: str = "", acting_user: User | None = None
) -> ServiceCategory:
    require_tenant(tenant)
    category = ServiceCategory(
        tenant=tenant,
        name=validate_text(name, "name", _CATEGORY_NAME, required=True),
        source=validate_source(source),
        external_id=validate_text(external_id, "external_id", _EXTERNAL_ID),
    )
    with transaction.atomic():
        _save(category)
        record_change(tenant=tenant, actor=acting_user, action="service_category.created", obj=category)
    return category


def service_category_update(
    *, tenant: Tenant, category_id: uuid.UUID, acting_user: User | None = None, **changes: Any
) -> ServiceCategory:
    require_tenant(tenant)
    check_unknown(changes, {"name", "source", "external_id"})
    with transaction.atomic():
        category = get_in_tenant(ServiceCategory, category_id, tenant=tenant, lock=True)
        if "name" in changes:
            category.name = validate_text(changes["name"], "name", _CATEGORY_NAME, required=True)
        if "source" in changes:
            category.source = validate_source(changes["source"])
        if "external_id" in changes:
            category.external_id = validate_text(changes["external_id"], "external_id", _EXTERNAL_ID)
        _save(category)
        record_change(tenant=tenant, actor=acting_user, action="service_category.updated", obj=category, fields=changes)
    return category


def service_category_delete(*, tenant: Tenant, category_id: uuid.UUID, acting_user: User | None = None) -> None:
    """Its services stay, uncategorized (the foreign key is SET NULL)."""
    require_tenant(tenant)
    with transaction.atomic():
        category = get_in_tenant(ServiceCategory, category_id, tenant=tenant, lock=True)
        record_change(tenant=tenant, actor=acting_user, action="service_category.deleted", obj=category)
        category.delete()


# --- services ----------------------------------------------------------------------------

_SERVICE_FIELDS = {
    "name",
    "category_id",
    "duration_minutes",
    "price_amount",
    "currency",
    "is_active",
    "source",
    "external_id",
}


def _apply_service_fields(service: Service, tenant: Tenant, values: Mapping[str, Any]) -> None:
    if "name" in values:
        service.name = validate_text(values["name"], "name", _SERVICE_NAME, required=True)
    if "category_id" in values:
        service.category = _referenced(ServiceCategory, tenant, values["category_id"], "category")
    if "duration_minutes" in values:
        service.duration_minutes = validate_duration(values["duration_minutes"])
    if "price_amount" in values:
        service.price_amount = validate_minor_units(values["price_amount"], "price_amount")
    if "currency" in values:
        service.currency = validate_currency(values["currency"])
    if "is_active" in values:
        service.is_active = validate_bool(values["is_active"], "is_active")
    if "source" in values:
        service.source = validate_source(values["source"])
    if "external_id" in values:
        service.external_id = validate_text(values["external_id"], "external_id", _EXTERNAL_ID)


def service_create(
    *,
    tenant: Tenant,
    name: str,
    category_id: uuid.UUID | None = None,
    duration_minutes: int = 60,
    price_amount: int = 0,
    currency: str | None = None,
    is_active: bool = True,
    source: str = Source.MANUAL,
    external_id: str = "",
    acting_user: User | None = None,
) -> Service:
    require_tenant(tenant)
    service = Service(tenant=tenant)
    _apply_service_fields(
        service,
        tenant,
        {
            "name": name,
            "category_id": category_id,
            "duration_minutes": duration_minutes,
            "price_amount": price_amount,
            "currency": currency or tenant.currency,
            "is_active": is_active,
            "source": source,
            "external_id": external_id,
        },
    )
    with transaction.atomic():
        _save(service)
        record_change(tenant=tenant, actor=acting_user, action="service.created", obj=service)
    return service


def service_update(
    *, tenant: Tenant, service_id: uuid.UUID, acting_user: User | None = None, **changes: Any
) -> Service:
    require_tenant(tenant)
    check_unknown(changes, _SERVICE_FIELDS)
    with transaction.atomic():
        service = get_in_tenant(Service, service_id, tenant=tenant, lock=True)
        _apply_service_fields(service, tenant, changes)
        _save(service)
        record_change(tenant=tenant, actor=acting_user, action="service.updated", obj=service, fields=changes)
    return service


def service_delete(*, tenant: Tenant, service_id: uuid.UUID, acting_user: User | None = None) -> None:
    """Past appointments and sales keep their amounts; their lines become "Other"."""
    require_tenant(tenant)
    with transaction.atomic():
        service = get_in_tenant(Service, service_id, tenant=tenant, lock=True)
        record_change(tenant=tenant, actor=acting_user, action="service.deleted", obj=service)
        service.delete()


# --- appointments ------------------------------------------------------------------------

_APPOINTMENT_FIELDS = {
    "client_id",
    "service_id",
    "staff_name",
    "start_at",
    "end_at",
    "status",
    "price_amount",
    "currency",
    "source",
    "external_id",
}


def _apply_appointment_fields(appointment: Appointment, tenant: Tenant, values: Mapping[str, Any]) -> None:
    if "client_id" in values:
        appointment.client = _referenced(Client, tenant, values["client_id"], "client")
    if "service_id" in values:
        appointment.service = _referenced(Service, tenant, values["service_id"], "service")
    if "staff_name" in values:
        appointment.staff_name = validate_text(values["staff_name"], "staff_name", _STAFF_NAME)
    if "start_at" in values:
        appointment.start_at = validate_instant(values["start_at"], "start_at")
    if "end_at" in values:
        appointment.end_at = validate_instant(values["end_at"], "end_at")
    if "status" in values:
        appointment.status = validate_choice(values["status"], Appointment.Status, "status")
    if "price_amount" in values:
        appointment.price_amount = validate_minor_units(values["price_amount"], "price_amount")
    if "currency" in values:
        appointment.currency = validate_currency(values["currency"])
    if "source" in values:
        appointment.source = validate_source(values["source"])
    if "external_id" in values:
        appointment.external_id = validate_text(values["external_id"], "external_id", _EXTERNAL_ID)
    if appointment.end_at < appointment.start_at:
        raise InvalidInput("end_at", "must not be before start_at.")


def appointment_create(
    *,
    tenant: Tenant,
    start_at: datetime.datetime,
    end_at: datetime.datetime | None = None,
    client_id: uuid.UUID | None = None,
    service_id: uuid.UUID | None = None,
    staff_name: str = "",
    status: str = Appointment.Status.BOOKED,
    price_amount: int | None = None,
    currency: str | None = None,
    source: str = Source.MANUAL,
    external_id: str = "",
    acting_user: User | None = None,
) -> Appointment:
    """Book (or record) an appointment. Without an end, the service's duration sets it;
    without a price or currency, the service's (else the tenant's currency) apply."""
    require_tenant(tenant)
    start_at = validate_instant(start_at, "start_at")
    service = _referenced(Service, tenant, service_id, "service")
    if end_at is None:
        end_at = start_at + datetime.timedelta(minutes=service.duration_minutes if service else 60)
    appointment = Appointment(tenant=tenant, start_at=start_at, end_at=end_at)
    _apply_appointment_fields(
        appointment,
        tenant,
        {
            "client_id": client_id,
            "service_id": service_id,
            "staff_name": staff_name,
            "end_at": end_at,
            "status": status,
            "price_amount": price_amount if price_amount is not None else (service.price_amount if service else 0),
            "currency": currency or (service.currency if service else tenant.currency),
            "source": source,
            "external_id": external_id,
        },
    )
    with transaction.atomic():
        _save(appointment)
        record_change(tenant=tenant, actor=acting_user, action="appointment.created", obj=appointment)
    return appointment


def appointment_update(
    *, tenant: Tenant, appointment_id: uuid.UUID, acting_user: User | None = None, **changes: Any
) -> Appointment:
    require_tenant(tenant)
    check_unknown(changes, _APPOINTMENT_FIELDS)
    with transaction.atomic():
        appointment = get_in_tenant(Appointment, appointment_id, tenant=tenant, lock=True)
        _apply_appointment_fields(appointment, tenant, changes)
        _save(appointment)
        record_change(tenant=tenant, actor=acting_user, action="appointment.updated", obj=appointment, fields=changes)
    return appointment


def appointment_delete(*, tenant: Tenant, appointment_id: uuid.UUID, acting_user: User | None = None) -> None:
    require_tenant(tenant)
    with transaction.atomic():
        appointment = get_in_tenant(Appointment, appointment_id, tenant=tenant, lock=True)
        record_change(tenant=tenant, actor=acting_user, action="appointment.deleted", obj=appointment)
        appointment.delete()


# --- transactions ------------------------------------------------------------------------


def _build_line_items(tenant: Tenant, items: Iterable[LineItemInput | Mapping[str, Any]]) -> list[TransactionLineItem]:
    lines = []
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            unknown = set(item) - {"amount", "service_id", "description", "quantity"}
            if unknown:
                raise InvalidInput(f"line_items[{index}].{sorted(unknown)[0]}", "is not a line item field.")
            if "amount" not in item:
                raise InvalidInput(f"line_items[{index}].amount", "is required.")
            item = LineItemInput(**item)
        field = f"line_items[{index}]"
        lines.append(
            TransactionLineItem(
                tenant=tenant,
                service=_referenced(Service, tenant, item.service_id, f"{field}.service"),
                description=validate_text(item.description or "", f"{field}.description", _DESCRIPTION),
                quantity=validate_quantity(item.quantity, f"{field}.quantity"),
                amount=validate_minor_units(item.amount, f"{field}.amount"),
            )
        )
    return lines


def _insert_lines(sale: Transaction, lines: list[TransactionLineItem]) -> None:
    for line in lines:
        line.transaction = sale
    TransactionLineItem.objects.bulk_create(lines)


def transaction_create(
    *,
    tenant: Tenant,
    occurred_at: datetime.datetime,
    currency: str | None = None,
    total_amount: int | None = None,
    line_items: Iterable[LineItemInput | Mapping[str, Any]] = (),
    client_id: uuid.UUID | None = None,
    status: str = Transaction.Status.COMPLETED,
    refunded_amount: int = 0,
    tip_amount: int = 0,
    tax_amount: int = 0,
    discount_amount: int = 0,
    source: str = Source.MANUAL,
    external_id: str = "",
    acting_user: User | None = None,
) -> Transaction:
    """Record a sale with its lines. Without `total_amount`, the lines' sum plus tip and tax
    is the total (a total may differ from that: discounts taken off the whole sale).

    A sale recorded with `refunded_amount` already (a past sale entered late) gets one
    refund of that amount dated at the sale: no other date is known, and a later date (the
    day it was typed in) would put the money back into a period it does not belong to."""
    require_tenant(tenant)
    lines = _build_line_items(tenant, line_items)
    if total_amount is None:
        if not lines:
            raise InvalidInput("total_amount", "is required when there are no line items.")
        total_amount = (
            sum(line.amount for line in lines)
            + validate_minor_units(tip_amount, "tip_amount")
            + validate_minor_units(tax_amount, "tax_amount")
        )
    sale = Transaction(
        tenant=tenant,
        client=_referenced(Client, tenant, client_id, "client"),
        occurred_at=validate_instant(occurred_at, "occurred_at"),
        status=validate_choice(status, Transaction.Status, "status"),
        total_amount=validate_minor_units(total_amount, "total_amount"),
        refunded_amount=validate_minor_units(refunded_amount, "refunded_amount"),
        tip_amount=validate_minor_units(tip_amount, "tip_amount"),
        tax_amount=validate_minor_units(tax_amount, "tax_amount"),
        discount_amount=validate_minor_units(discount_amount, "discount_amount"),
        currency=validate_currency(currency or tenant.currency),
        source=validate_source(source),
        external_id=validate_text(external_id, "external_id", _EXTERNAL_ID),
    )
    check_amounts(sale)
    with transaction.atomic():
        _save(sale)
        _insert_lines(sale, lines)
        if sale.refunded_amount:
            Refund.objects.create(
                tenant=tenant,
                transaction=sale,
                amount=sale.refunded_amount,
                currency=sale.currency,
                refunded_at=sale.occurred_at,
                source=sale.source,
            )
        record_change(tenant=tenant, actor=acting_user, action="transaction.created", obj=sale)
    return sale


_TRANSACTION_FIELDS = {
    "client_id",
    "occurred_at",
    "status",
    "total_amount",
    "tip_amount",
    "tax_amount",
    "discount_amount",
    "currency",
    "source",
    "external_id",
}


def transaction_update(
    *,
    tenant: Tenant,
    transaction_id: uuid.UUID,
    line_items: Iterable[LineItemInput | Mapping[str, Any]] | None = None,
    acting_user: User | None = None,
    **changes: Any,
) -> Transaction:
    """Correct a sale. `line_items`, when given, replace all the lines. Refunds go through
    `transaction_refund`, so that refunded_amount only ever grows by a recorded refund."""
    require_tenant(tenant)
    check_unknown(changes, _TRANSACTION_FIELDS)
    lines = _build_line_items(tenant, line_items) if line_items is not None else None
    with transaction.atomic():
        sale = get_in_tenant(Transaction, transaction_id, tenant=tenant, lock=True)
        if "client_id" in changes:
            sale.client = _referenced(Client, tenant, changes["client_id"], "client")
        if "occurred_at" in changes:
            sale.occurred_at = validate_instant(changes["occurred_at"], "occurred_at")
        if "status" in changes:
            sale.status = validate_choice(changes["status"], Transaction.Status, "status")
        for part in ("total_amount", "tip_amount", "tax_amount", "discount_amount"):
            if part in changes:
                setattr(sale, part, validate_minor_units(changes[part], part))
        if "currency" in changes:
            sale.currency = validate_currency(changes["currency"])
        if "source" in changes:
            sale.source = validate_source(changes["source"])
        if "external_id" in changes:
            sale.external_id = validate_text(changes["external_id"], "external_id", _EXTERNAL_ID)
        check_amounts(sale)
        if "occurred_at" in changes and sale.refunds.filter(refunded_at__lt=sale.occurred_at).exists():
            raise InvalidInput("occurred_at", "must not be after the sale's first refund.")
        _save(sale)
        refunds_follow_sale(tenant=tenant, sale=sale)
        if lines is not None:
            sale.line_items.all().delete()
            _insert_lines(sale, lines)
        record_change(
            tenant=tenant,
            actor=acting_user,
            action="transaction.updated",
            obj=sale,
            fields=[*changes, *(["line_items"] if lines is not None else [])],
        )
    return sale


def refunds_follow_sale(*, tenant: Tenant, sale: Transaction) -> None:
    """A sale's refunds carry its currency (for index-only reports): keep them in step when
    a correction or a re-sync changes the sale's currency."""
    for_tenant(Refund.objects.filter(transaction=sale), tenant).exclude(currency=sale.currency).update(
        currency=sale.currency
    )


def _validate_refund_time(value: Any, sale: Transaction) -> datetime.datetime:
    refunded_at = validate_instant(value, "refunded_at")
    if refunded_at < sale.occurred_at:
        raise InvalidInput("refunded_at", "must not be before the sale's occurred_at.")
    if refunded_at > timezone.now() + REFUND_CLOCK_SKEW:
        raise InvalidInput("refunded_at", "must not be in the future.")
    return refunded_at


def transaction_refund(
    *,
    tenant: Tenant,
    transaction_id: uuid.UUID,
    amount: int | None = None,
    refunded_at: datetime.datetime | None = None,
    acting_user: User | None = None,
) -> Transaction:
    """Refund `amount` (default: everything not yet refunded), dated `refunded_at` (default:
    now). Writes a Refund row; the sale's refunded_amount and status are recounted from its
    refunds (`_refunds_recount`, as for a provider's refunds). The sale row is locked, so two
    refunds at once cannot together exceed the total; fully refunded -> status refunded."""
    require_tenant(tenant)
    with transaction.atomic():
        sale = get_in_tenant(Transaction, transaction_id, tenant=tenant, lock=True)
        if sale.status == Transaction.Status.FAILED:
            raise Conflict("transaction", "a failed transaction cannot be refunded.")
        remaining = sale.total_amount - sale.refunded_amount
        if remaining <= 0:
            raise Conflict("amount", "the transaction is already fully refunded.")
        amount = remaining if amount is None else validate_minor_units(amount, "amount", minimum=1)
        if amount > remaining:
            raise InvalidInput("amount", f"must not exceed the refundable remainder ({remaining}).")
        # Default now, but never before the sale (a sale recorded ahead of its time).
        when = (
            max(timezone.now(), sale.occurred_at) if refunded_at is None else _validate_refund_time(refunded_at, sale)
        )
        Refund.objects.create(
            tenant=tenant,
            transaction=sale,
            amount=amount,
            currency=sale.currency,
            refunded_at=when,
            source=Source.MANUAL,
        )
        _refunds_recount(sale)
        record_change(
            tenant=tenant,
            actor=acting_user,
            action="transaction.refunded",
            obj=sale,
            fields=["refunded_amount", "status"],
        )
    return sale


def transaction_delete(*, tenant: Tenant, transaction_id: uuid.UUID, acting_user: User | None = None) -> None:
    require_tenant(tenant)
    with transaction.atomic():
        sale = get_in_tenant(Transaction, transaction_id, tenant=tenant, lock=True)
        record_change(tenant=tenant, actor=acting_user, action="transaction.deleted", obj=sale)
        sale.delete()


# --- provider imports: the one door for sales, refunds, the catalog and appointments -------
#
# Importers (integrations) map a provider's record to a value of analytics.records and hand
# it here; these functions are the only writers of what providers send. `existing`: the row
# the caller prefetched for a page (by source and external id), so that an unchanged record
# is told without a query; every write reads its row again, locked, in its own savepoint.


def _refunds_recount(sale: Transaction) -> None:
    """The one rule for a sale's refunded_amount and status, on every path (the API's refund,
    a provider's refunds, a pushed sale's refund list): the sum of the sale's Refund rows,
    and refunded when that is the whole (non-zero) total, completed when it is not (a failed
    sale stays failed and may have none). The caller holds the sale's row lock (every writer
    of a sale's refunds takes it first), so concurrent writers take turns, and a refund
    delivered twice (an upsert by its external id) is counted once. Raises InvalidInput
    when the refunds exceed the total (the provider's data disagrees with itself)."""
    refunded = (
        for_tenant(Refund.objects.filter(transaction=sale), sale.tenant_id).aggregate(total=models.Sum("amount"))[
            "total"
        ]
        or 0
    )
    if refunded > sale.total_amount:
        raise InvalidInput("amount", "the refunds exceed the sale's total.")
    status = sale.status
    if status != Transaction.Status.FAILED:
        full = sale.total_amount > 0 and refunded == sale.total_amount
        status = Transaction.Status.REFUNDED if full else Transaction.Status.COMPLETED
    elif refunded:
        raise InvalidInput("amount", "a failed transaction cannot have refunds.")
    if (sale.refunded_amount, sale.status) != (refunded, status):
        sale.refunded_amount, sale.status = refunded, status
        sale.save(update_fields=["refunded_amount", "status", "updated_at"])


def _sale_status(record: SaleRecord, refunded: int) -> str:
    if record.status == "failed":
        return Transaction.Status.FAILED
    full = record.total_amount > 0 and refunded >= record.total_amount
    return Transaction.Status.REFUNDED if full else Transaction.Status.COMPLETED


def _sale_changes(sale: Transaction, record: SaleRecord) -> tuple[dict[str, Any], bool, bool]:
    """What `record` changes on the stored `sale`: its fields, whether its lines and whether
    its refunds are replaced. Reads the sale's lines and refunds (prefetched or not)."""
    values: dict[str, Any] = {
        "occurred_at": record.occurred_at,
        "total_amount": record.total_amount,
        "currency": record.currency,
        "tip_amount": record.tip_amount,
        "tax_amount": record.tax_amount,
        "discount_amount": record.discount_amount,
    }
    if record.client_id is not None or not record.keep_client:
        values["client_id"] = record.client_id
    changes = {name: value for name, value in values.items() if getattr(sale, name) != value}
    lines = record.lines is not None and sorted(
        (li.description, li.quantity, li.amount, str(li.service_id or "")) for li in sale.line_items.all()
    ) != sorted(line.key() for line in record.lines)
    refunds = record.refunds is not None and sorted(
        (r.external_id, r.amount, r.refunded_at) for r in sale.refunds.all()
    ) != sorted(refund.key() for refund in record.refunds)
    if not refunds and _sale_status(record, sale.refunded_amount) != sale.status:
        changes["status"] = _sale_status(record, sale.refunded_amount)
    return changes, lines, refunds


def _check_sale_record(record: SaleRecord, *, refunded: int) -> None:
    validate_source(record.source)
    validate_currency(record.currency)
    for part in ("total_amount", "tip_amount", "tax_amount", "discount_amount"):
        validate_minor_units(getattr(record, part), part)
    for index, line in enumerate(record.lines or ()):
        validate_minor_units(line.amount, f"line_items[{index}].amount")
    check_amounts(
        Transaction(
            total_amount=record.total_amount,
            refunded_amount=refunded,
            tip_amount=record.tip_amount,
            tax_amount=record.tax_amount,
            status=_sale_status(record, refunded),
        )
    )


def transaction_upsert_from_provider(
    *, tenant: Tenant, record: SaleRecord, existing: Transaction | None = None
) -> Outcome:
    """Create or bring up to date the sale a provider sent (by source and external id).

    Its lines are replaced when the record lists them and they differ; its refunds are
    replaced when it lists them (a pushed sale's refunds), else kept (a provider's refunds
    are records of their own: `refund_upsert`). The status follows the refunds
    (`_refunds_recount`); a sale whose currency changes takes its refunds along. Raises
    InvalidInput (the money rules of `check_amounts`) for a record that breaks them."""
    require_tenant(tenant)
    refunded = (
        sum(refund.amount for refund in record.refunds)
        if record.refunds is not None
        else (existing.refunded_amount if existing is not None else 0)
    )
    _check_sale_record(record, refunded=refunded)
    if existing is not None and _sale_changes(existing, record) == ({}, False, False):
        return UNCHANGED
    with transaction.atomic():
        sale = (
            Transaction.objects.select_for_update().filter(source=record.source, external_id=record.external_id).first()
        )
        created = sale is None
        if sale is None:
            sale = Transaction(
                tenant=tenant,
                source=record.source,
                external_id=record.external_id,
                occurred_at=record.occurred_at,
                total_amount=record.total_amount,
                currency=record.currency,
                tip_amount=record.tip_amount,
                tax_amount=record.tax_amount,
                discount_amount=record.discount_amount,
                client_id=record.client_id,
                status=_sale_status(record, 0),
            )
            _save(sale)
            changes: dict[str, Any] = {}
            lines, refunds = record.lines is not None, bool(record.refunds)
        else:
            changes, lines, refunds = _sale_changes(sale, record)
            if not (changes or lines or refunds):
                return UNCHANGED
            if not refunds:  # the money rules against the refunds it keeps, read under the lock
                _check_sale_record(record, refunded=sale.refunded_amount)
            if refunds:
                # Refunded or completed follows the new refunds (recounted below).
                changes["status"] = _sale_status(record, 0)
            for name, value in changes.items():
                setattr(sale, name, value)
            if refunds:
                sale.refunded_amount = 0  # the old refunds go first; the recount sets it again
                changes["refunded_amount"] = 0
            if changes:
                sale.save(update_fields=[*changes, "updated_at"])
            if "currency" in changes:
                refunds_follow_sale(tenant=tenant, sale=sale)
        if lines and record.lines is not None:
            TransactionLineItem.objects.filter(transaction=sale).delete()
            TransactionLineItem.objects.bulk_create(
                [
                    TransactionLineItem(
                        tenant=tenant,
                        transaction=sale,
                        description=line.description,
                        quantity=line.quantity,
                        amount=line.amount,
                        service_id=line.service_id,
                    )
                    for line in record.lines
                ]
            )
        if refunds and record.refunds is not None:
            Refund.objects.filter(transaction=sale).delete()
            Refund.objects.bulk_create(
                [
                    Refund(
                        tenant=tenant,
                        transaction=sale,
                        source=record.source,
                        external_id=refund.external_id,
                        amount=refund.amount,
                        currency=sale.currency,
                        refunded_at=refund.refunded_at,
                    )
                    for refund in record.refunds
                ]
            )
            _refunds_recount(sale)
    return CREATED if created else UPDATED


def refund_upsert(*, tenant: Tenant, record: RefundRecord, existing: Refund | None = None) -> Outcome:
    """Create, update or remove (a refund that gave nothing back after all) a provider's
    refund of one of its sales, then recount the sale (`_refunds_recount`) under its row lock.
    A provider's dated refund replaces the estimates of its sale (rows of its source without
    an external id, left by the refunds migration). "skipped": a refund of a sale we do not
    have, or one that never gave money back. Raises Conflict when a refund we have names a
    sale we do not have (or another one), InvalidInput when the refunds exceed the sale."""
    require_tenant(tenant)
    if record.counts:
        validate_minor_units(record.amount, "amount", minimum=1)
    if (
        existing is not None
        and record.counts
        and (existing.amount, existing.refunded_at) == (record.amount, record.refunded_at)
    ):
        return UNCHANGED
    with transaction.atomic():
        sale = (
            Transaction.objects.select_for_update()
            .filter(source=record.source, external_id=record.sale_external_id)
            .first()
        )
        refund = Refund.objects.filter(source=record.source, external_id=record.external_id).first()
        if sale is None or (refund is not None and refund.transaction_id != sale.id):
            if refund is None:
                return SKIPPED  # a sale we do not have (before the history start)
            raise Conflict("transaction", f"refund {record.external_id} moved to sale {record.sale_external_id!r}.")
        if not record.counts:
            if refund is None:
                return SKIPPED
            refund.delete()
            _refunds_recount(sale)
            return UPDATED
        if refund is None:
            Refund.objects.filter(transaction=sale, source=record.source, external_id="").delete()
            Refund.objects.create(
                tenant=tenant,
                transaction=sale,
                source=record.source,
                external_id=record.external_id,
                amount=record.amount,
                currency=sale.currency,
                refunded_at=record.refunded_at,
            )
            _refunds_recount(sale)
            return CREATED
        values = {"amount": record.amount, "currency": sale.currency, "refunded_at": record.refunded_at}
        changes = {name: value for name, value in values.items() if getattr(refund, name) != value}
        if not changes:
            return UNCHANGED
        for name, value in changes.items():
            setattr(refund, name, value)
        refund.save(update_fields=list(changes))
        _refunds_recount(sale)
    return UPDATED


def service_category_upsert_from_provider(
    *, tenant: Tenant, record: CategoryRecord, existing: ServiceCategory | None = None
) -> tuple[Outcome, ServiceCategory]:
    """A provider's category, by source and external id. A category of the same name entered
    by hand is adopted, not duplicated (names are unique per tenant, case-insensitively);
    one of another provider raises Conflict."""
    require_tenant(tenant)
    name = validate_text(record.name, "name", max_length_of(ServiceCategory, "name"), required=True)
    if existing is not None and existing.name == name:
        return UNCHANGED, existing
    with transaction.atomic():
        category = existing or (
            ServiceCategory.objects.filter(source=record.source, external_id=record.external_id).first()
        )
        if category is not None:
            if category.name == name:
                return UNCHANGED, category
            category.name = name
            _save(category)
            return UPDATED, category
        same_name = ServiceCategory.objects.filter(name__iexact=name).first()
        if same_name is not None and same_name.external_id == "":
            same_name.source, same_name.external_id = validate_source(record.source), record.external_id
            _save(same_name)
            return UPDATED, same_name
        if same_name is not None:
            raise Conflict("name", f"category name {name!r} is already used by another source.")
        category = ServiceCategory(tenant=tenant, name=name, source=record.source, external_id=record.external_id)
        _save(category)
    return CREATED, category


def _service_values(record: ServiceRecord) -> dict[str, Any]:
    return {
        "name": validate_text(record.name, "name", max_length_of(Service, "name"), required=True),
        "category_id": record.category_id,
        "price_amount": validate_minor_units(record.price_amount, "price_amount"),
        "price_is_variable": record.price_is_variable,
        "currency": validate_currency(record.currency),
        "duration_minutes": record.duration_minutes,
        "is_active": record.is_active,
    }


def service_upsert_from_provider(
    *, tenant: Tenant, record: ServiceRecord, existing: Service | None = None
) -> tuple[Outcome, Service]:
    """A provider's service (a Square item), by source and external id: created, or brought
    up to date with every field the provider sends."""
    require_tenant(tenant)
    values = _service_values(record)
    if existing is not None and all(getattr(existing, name) == value for name, value in values.items()):
        return UNCHANGED, existing
    with transaction.atomic():
        service = existing or Service.objects.filter(source=record.source, external_id=record.external_id).first()
        if service is None:
            service = Service(tenant=tenant, source=validate_source(record.source), external_id=record.external_id)
            for name, value in values.items():
                setattr(service, name, value)
            _save(service)
            return CREATED, service
        changes = {name: value for name, value in values.items() if getattr(service, name) != value}
        if not changes:
            return UNCHANGED, service
        for name, value in changes.items():
            setattr(service, name, value)
        service.save(update_fields=[*changes, "updated_at"])
    return UPDATED, service


def service_find_or_create_from_provider(*, tenant: Tenant, record: ServiceRecord) -> Service:
    """The provider's service (an Acuity appointment type) by source and external id, created
    from `record` the first time; an existing one is left as the business keeps it."""
    require_tenant(tenant)
    values = _service_values(record)
    service, _ = Service.objects.get_or_create(
        source=validate_source(record.source), external_id=record.external_id, defaults={"tenant": tenant, **values}
    )
    return service


def appointment_upsert_from_provider(
    *,
    tenant: Tenant,
    record: AppointmentRecord,
    existing: Appointment | None = None,
    client_id: uuid.UUID | None = None,
    service_id: uuid.UUID | None = None,
) -> Outcome:
    """A provider's appointment, by source and external id. `service_id`: its service when
    known (set when it differs); `client_id`: the client it is for, set on one that has none
    (a client linked by hand or earlier is kept)."""
    require_tenant(tenant)
    values: dict[str, Any] = {
        "start_at": validate_instant(record.start_at, "start_at"),
        "end_at": validate_instant(record.end_at, "end_at"),
        "status": validate_choice(record.status, Appointment.Status, "status"),
        "price_amount": validate_minor_units(record.price_amount, "price_amount"),
        "currency": validate_currency(record.currency),
        "staff_name": validate_text(record.staff_name, "staff_name", max_length_of(Appointment, "staff_name")),
    }
    if record.end_at < record.start_at:
        raise InvalidInput("end_at", "must not be before start_at.")
    with transaction.atomic():
        appointment = existing or (
            Appointment.objects.filter(source=record.source, external_id=record.external_id).first()
        )
        if appointment is None:
            appointment = Appointment(
                tenant=tenant,
                source=validate_source(record.source),
                external_id=record.external_id,
                client_id=client_id,
                service_id=service_id,
                **values,
            )
            _save(appointment)
            return CREATED
        changes = {name: value for name, value in values.items() if getattr(appointment, name) != value}
        if service_id is not None and appointment.service_id != service_id:
            changes["service_id"] = service_id
        if client_id is not None and appointment.client_id is None:
            changes["client_id"] = client_id
        if not changes:
            return UNCHANGED
        for name, value in changes.items():
            setattr(appointment, name, value)
        appointment.save(update_fields=[*changes, "updated_at"])
    return UPDATED
