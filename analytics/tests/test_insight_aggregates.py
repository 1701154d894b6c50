"""The insights answered from the aggregates are the insights answered from the rows.

A property test (Hypothesis) writes random histories through the services every writer uses
(sales with tips, taxes, discounts and two currencies, with no line, lines of one service,
of two services of one category, without a service, at 0; refunds in later periods;
corrections that move a sale, change its amounts, currency or lines; deletions; visits of
every status and their changes; services moved to another category or none, deleted
categories, deleted services; time zone changes), in time zones with clock changes, around
their DST days, and compares every insight both ways (the dashboard, the time series, revenue
by service) for random periods, down to the bytes of the API's JSON. Each example is a
savepoint of the test transaction on one tenant.
"""

from __future__ import annotations

import datetime
import io
import zoneinfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from analytics import aggregates, selectors, services
from analytics.models import (
    InsightActiveDay,
    InsightClient,
    InsightClientDay,
    InsightDay,
    InsightServiceDay,
    InsightServiceMonth,
    InsightServiceSet,
    InsightServiceSetMonth,
    InsightServiceSpan,
    InsightServiceSpanMonth,
    InsightSpan,
    InsightSpanMonth,
    InsightState,
    InsightVisitDay,
    Transaction,
)
from analytics.rules import INTERVALS
from analytics.tests import factories as f
from common.errors import Conflict, InvalidInput
from tenants.context import tenant_context
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

D = datetime.date
UTC = datetime.UTC
# Zones with clock changes (one at midnight: Santiago; half an hour: Lord Howe), a fixed one.
ZONES = (
    "America/Los_Angeles",
    "Pacific/Auckland",
    "Europe/London",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
)
# Two windows of 70 days, each holding the spring or autumn clock changes of those zones.
WINDOWS = (datetime.datetime(2025, 2, 20, tzinfo=UTC), datetime.datetime(2024, 9, 1, tzinfo=UTC))
WINDOW_MINUTES = 70 * 24 * 60

minutes = st.integers(min_value=0, max_value=WINDOW_MINUTES)
amounts = st.integers(min_value=0, max_value=50_000)
# A sale's lines: (catalog slot or None for no service, weight of its share of the service
# money (0: a line at 0), quantity).
line_specs = st.lists(
    st.tuples(st.sampled_from([None, 0, 1, 2, 2]), st.integers(0, 3), st.sampled_from(["1", "2", "0.5"])),
    max_size=3,
)
sale_op = st.tuples(
    st.just("sale"),
    minutes,
    st.sampled_from(["USD", "USD", "EUR"]),
    amounts,
    st.integers(0, 3000),  # tip
    st.integers(0, 2000),  # tax
    st.integers(0, 1500),  # discount
    st.sampled_from([None, 0, 1, 2]),  # client
    st.sampled_from(["completed", "completed", "completed", "failed"]),
    st.sampled_from([0, 0, 0, 1, 2]),  # 1: refunded in part at the sale, 2: in full
    line_specs,
)
refund_op = st.tuples(
    st.just("refund"),
    st.integers(0, 30),  # which sale
    st.sampled_from([None, 1, 2, 3]),  # None: the rest, else that many quarters of the rest
    st.integers(0, 45 * 24 * 60),  # minutes after the sale
)
update_op = st.tuples(
    st.just("update"),
    st.integers(0, 30),
    st.sampled_from(["occurred_at", "tip", "currency", "total", "client"]),
    st.integers(-3 * 24 * 60, 3 * 24 * 60),
)
relines_op = st.tuples(st.just("relines"), st.integers(0, 30), line_specs)
delete_op = st.tuples(st.just("delete"), st.integers(0, 30))
visit_op = st.tuples(
    st.just("visit"),
    minutes,
    st.sampled_from([None, 0, 1, 2]),
    st.sampled_from(["completed", "completed", "no_show", "canceled", "booked"]),
)
visit_change_op = st.tuples(
    st.just("visit_change"),
    st.integers(0, 30),
    st.sampled_from(["completed", "canceled", "no_show", "move", "delete"]),
    st.integers(-70 * 24 * 60, 70 * 24 * 60),
)
service_delete_op = st.tuples(st.just("service_delete"), st.integers(0, 2))
# A service moved to a category (slot) or to none; a category deleted (its services: none).
recategorize_op = st.tuples(st.just("recategorize"), st.integers(0, 2), st.sampled_from([None, 0, 1]))
category_delete_op = st.tuples(st.just("category_delete"), st.integers(0, 1))
zone_op = st.tuples(st.just("zone"), st.sampled_from(ZONES))
# A few sales first (so that every example has some to refund, correct, recategorize), then
# any operations.
operations = st.tuples(
    st.lists(sale_op, min_size=1, max_size=5),
    st.lists(
        st.one_of(
            sale_op,
            sale_op,
            sale_op,
            refund_op,
            refund_op,
            update_op,
            relines_op,
            delete_op,
            visit_op,
            visit_op,
            visit_change_op,
            service_delete_op,
            recategorize_op,
            category_delete_op,
            zone_op,
        ),
        max_size=17,
    ),
).map(lambda parts: parts[0] + parts[1])
periods = st.lists(
    st.tuples(st.integers(0, 75), st.integers(0, 80)), min_size=1, max_size=2
)  # (start offset in days from the window's first day, length - 1)


@pytest.fixture
def tenant(world) -> Tenant:
    return world.tenant_a


def _json(answer: dict) -> bytes:
    return JSONRenderer().render(answer)


def _assert_same_insights(tenant: Tenant, window: datetime.datetime, chosen: list[tuple[int, int]]) -> None:
    first = window.astimezone(tenant.tzinfo).date()
    for offset, length in chosen:
        start = first + datetime.timedelta(days=offset)
        end = start + datetime.timedelta(days=length)
        assert _json(selectors.dashboard(tenant=tenant, start=start, end=end)) == _json(
            selectors.dashboard_raw(tenant=tenant, start=start, end=end)
        )
        for interval in INTERVALS:
            assert _json(selectors.revenue_timeseries(tenant=tenant, start=start, end=end, interval=interval)) == _json(
                selectors.revenue_timeseries_raw(tenant=tenant, start=start, end=end, interval=interval)
            )
        assert _json(selectors.revenue_by_service(tenant=tenant, start=start, end=end)) == _json(
            selectors.revenue_by_service_raw(tenant=tenant, start=start, end=end)
        )


def _apply(
    tenant: Tenant, window: datetime.datetime, ops: list[tuple], people: list, catalog: list, kinds: list
) -> None:
    sales: list = []
    visits: list = []

    def at(offset: int) -> datetime.datetime:
        return window + datetime.timedelta(minutes=offset)

    def lines_of(specs: list[tuple], money: int) -> list[dict]:
        # Shares of the service money by weight (rounded down: they may not add up to it).
        weights = sum(weight for _, weight, _ in specs)
        return [
            {
                "amount": money * weight // weights if weights else 0,
                "service_id": catalog[slot].id if slot is not None and catalog[slot] is not None else None,
                "quantity": quantity,
            }
            for slot, weight, quantity in specs
        ]

    for op in ops:
        kind = op[0]
        try:
            if kind == "sale":
                _, offset, currency, total, tip, tax, discount, who, status, refunded, specs = op
                tip, tax = min(tip, total), min(tax, total - min(tip, total))
                refund = {0: 0, 1: total // 3, 2: total}[refunded] if status != "failed" else 0
                sales.append(
                    services.transaction_create(
                        tenant=tenant,
                        occurred_at=at(offset),
                        currency=currency,
                        total_amount=total,
                        line_items=lines_of(specs, total - tip - tax),
                        client_id=people[who].id if who is not None else None,
                        status="refunded" if refund and refund == total else status,
                        refunded_amount=refund,
                        tip_amount=tip,
                        tax_amount=tax,
                        discount_amount=discount,
                    )
                )
            elif kind == "refund" and sales:
                _, which, quarters, later = op
                sale = Transaction.objects.get(id=sales[which % len(sales)].id)
                rest = sale.total_amount - sale.refunded_amount
                amount = None if quarters is None or rest < 4 else max(1, rest * quarters // 4)
                services.transaction_refund(
                    tenant=tenant,
                    transaction_id=sale.id,
                    amount=amount,
                    refunded_at=sale.occurred_at + datetime.timedelta(minutes=later),
                )
            elif kind == "update" and sales:
                _, which, field, shift = op
                sale = Transaction.objects.get(id=sales[which % len(sales)].id)
                changes: dict = {
                    "occurred_at": {"occurred_at": sale.occurred_at + datetime.timedelta(minutes=shift)},
                    "tip": {"tip_amount": min(abs(shift) % 500, sale.total_amount - sale.tax_amount)},
                    "currency": {"currency": "EUR" if sale.currency == "USD" else "USD"},
                    "total": {"total_amount": sale.total_amount + abs(shift) % 700},
                    "client": {"client_id": people[abs(shift) % 3].id},
                }[field]
                services.transaction_update(tenant=tenant, transaction_id=sale.id, **changes)
            elif kind == "relines" and sales:
                _, which, specs = op
                sale = Transaction.objects.get(id=sales[which % len(sales)].id)
                services.transaction_update(
                    tenant=tenant,
                    transaction_id=sale.id,
                    line_items=lines_of(specs, sale.total_amount - sale.tip_amount - sale.tax_amount),
                )
            elif kind == "delete" and sales:
                services.transaction_delete(tenant=tenant, transaction_id=sales.pop(op[1] % len(sales)).id)
            elif kind == "visit":
                _, offset, who, status = op
                visits.append(
                    services.appointment_create(
                        tenant=tenant,
                        start_at=at(offset),
                        client_id=people[who].id if who is not None else None,
                        status=status,
                    )
                )
            elif kind == "visit_change" and visits:
                _, which, change, shift = op
                visit = visits[which % len(visits)]
                if change == "delete":
                    visits.remove(visit)
                    services.appointment_delete(tenant=tenant, appointment_id=visit.id)
                elif change == "move":
                    moved = visit.start_at + datetime.timedelta(minutes=shift)
                    services.appointment_update(
                        tenant=tenant,
                        appointment_id=visit.id,
                        start_at=moved,
                        end_at=moved + datetime.timedelta(hours=1),
                    )
                    visit.start_at = moved
                else:
                    services.appointment_update(tenant=tenant, appointment_id=visit.id, status=change)
            elif kind == "service_delete" and catalog[op[1]] is not None:
                services.service_delete(tenant=tenant, service_id=catalog[op[1]].id)
                catalog[op[1]] = None
            elif kind == "recategorize" and catalog[op[1]] is not None:
                target = kinds[op[2]] if op[2] is not None else None
                services.service_update(
                    tenant=tenant, service_id=catalog[op[1]].id, category_id=target.id if target else None
                )
            elif kind == "category_delete" and kinds[op[1]] is not None:
                services.service_category_delete(tenant=tenant, category_id=kinds[op[1]].id)
                kinds[op[1]] = None
            elif kind == "zone":
                # What the service that changes a tenant's zone must do (docs/insights.md).
                Tenant.objects.filter(id=tenant.id).update(timezone=op[1])
                tenant.timezone = op[1]
                # The aggregates are still in the old zone: not used until the rebuild.
                assert selectors.aggregates_ready(tenant=tenant) == (op[1] == _state_zone(tenant))
                aggregates.rebuild(tenant)
        except (InvalidInput, Conflict):
            # A correction the rules refuse (a sale moved after its first refund, a full
            # refund asked again...): nothing was written, the history goes on.
            pass


def _state_zone(tenant: Tenant) -> str | None:
    return InsightState.objects.filter(tenant_id=tenant.id).values_list("timezone", flat=True).first()


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    zone=st.sampled_from(ZONES),
    window=st.sampled_from(WINDOWS),
    ops=operations,
    chosen=periods,
)
def test_the_aggregates_answer_every_insight_as_the_rows_do(tenant, zone, window, ops, chosen):
    with tenant_context(tenant.id, role="system"), transaction.atomic():
        Tenant.objects.filter(id=tenant.id).update(timezone=zone)
        tenant.timezone = zone
        people = [f.client(tenant, f"P{n}") for n in range(3)]
        kinds = [f.category(tenant, "Hair"), f.category(tenant, "Skin")]
        catalog = [f.service(tenant, "Cut"), f.service(tenant, "Color", kinds[0]), f.service(tenant, "Gloss", kinds[0])]
        aggregates.rebuild(tenant)
        _apply(tenant, window, ops, people, catalog, kinds)
        assert selectors.aggregates_ready(tenant=tenant)
        _assert_same_insights(tenant, window, chosen)
        # What the triggers kept of the active days and the services is what a rebuild from
        # the rows makes.
        kept = {**_active_rows(tenant), **_service_rows(tenant)}
        _assert_months_are_their_days(kept)
        aggregates.rebuild(tenant)
        assert {**_active_rows(tenant), **_service_rows(tenant)} == kept
        transaction.set_rollback(True)


# --- examples that pin down the aggregates' upkeep ----------------------------------------


def _rows(tenant: Tenant) -> dict:
    return {
        "days": sorted(
            InsightDay.objects.filter(tenant_id=tenant.id).values_list(
                "day",
                "currency",
                "sales",
                "gross",
                "sale_tips",
                "sale_taxes",
                "discounts",
                "refunds",
                "refund_tips",
                "refund_taxes",
            )
        ),
        "spans": sorted(
            InsightSpan.objects.filter(tenant_id=tenant.id).values_list(
                "currency", "sale_day", "refund_day", "refunded", "full_sales", "full_discounts"
            )
        ),
        "clients": sorted(
            InsightClientDay.objects.filter(tenant_id=tenant.id).values_list(
                "client_id", "day", "permanent", "earlier_custom", "refunded_in_full_on"
            )
        ),
        "first": sorted(InsightClient.objects.filter(tenant_id=tenant.id).values_list("client_id", "first_day")),
        "visits": sorted(
            InsightVisitDay.objects.filter(tenant_id=tenant.id).values_list(
                "day", "completed", "no_shows", "rebookable", "rebooked"
            )
        ),
        **_active_rows(tenant),
    }


def _active_rows(tenant: Tenant) -> dict:
    """What migration 0009 keeps: the gaps of the permanent client-days, the days' arrays."""
    return {
        "gaps": sorted(
            InsightClientDay.objects.filter(tenant_id=tenant.id).values_list(
                "client_id",
                "day",
                "permanent",
                "gap",
                "returning_gap",
                "previous_permanent_day",
                "next_permanent_day",
            )
        ),
        "active": sorted(
            InsightActiveDay.objects.filter(tenant_id=tenant.id).values_list("day", "neg_gaps", "neg_returning_gaps")
        ),
    }


def _assert_months_are_their_days(kept: dict) -> None:
    """Migration 0014's month rows are the sums of their months' day rows (the spans by sale
    month and refund month; the services' spans too, quantities place by place)."""

    def month(day: datetime.date) -> datetime.date:
        return day.replace(day=1)

    def add(total, value):
        if isinstance(value, list | tuple):  # a set's quantities: place by place
            return tuple(a + b for a, b in zip(total, value, strict=True))
        return total + value

    def summed(rows, key, values) -> dict:
        sums: dict = {}
        for row in rows:
            k, v = key(row), tuple(values(row))
            sums[k] = tuple(add(a, b) for a, b in zip(sums[k], v, strict=True)) if k in sums else v
        return sums

    def freeze(values) -> tuple:
        return tuple(tuple(v) if isinstance(v, list) else v for v in values)

    assert summed(kept["service_days"], lambda r: (month(r[0]), r[1], r[2]), lambda r: r[3:]) == {
        (r[0], r[1], r[2]): tuple(r[3:]) for r in kept["service_months"]
    }
    assert summed(kept["service_sets"], lambda r: (month(r[0]), r[1], tuple(r[2])), lambda r: r[3:]) == {
        (r[0], r[1], tuple(r[2])): tuple(r[3:]) for r in kept["service_set_months"]
    }
    assert summed(
        kept["service_spans"],
        lambda r: (r[0], month(r[1]), month(r[2]), tuple(r[3])),
        lambda r: freeze(r[4:]),
    ) == {(r[0], r[1], r[2], tuple(r[3])): freeze(r[4:]) for r in kept["service_span_months"]}
    assert summed(kept["spans"], lambda r: (r[0], month(r[1]), month(r[2])), lambda r: r[3:]) == {
        (r[0], r[1], r[2]): tuple(r[3:]) for r in kept["span_months"]
    }


def _service_rows(tenant: Tenant) -> dict:
    """What migrations 0011 and 0014 keep: service money per service, sales per set of
    services, and the sets' sales fully refunded later, by day and by month; and the spans by
    month with their days. (None sorts with the ids by its text.)"""
    return {
        "service_months": sorted(
            InsightServiceMonth.objects.filter(tenant_id=tenant.id).values_list(
                "month", "currency", "service_id", "revenue", "quantity"
            ),
            key=repr,
        ),
        "service_set_months": sorted(
            InsightServiceSetMonth.objects.filter(tenant_id=tenant.id).values_list(
                "month", "currency", "services", "sales"
            ),
            key=repr,
        ),
        "span_months": sorted(
            InsightSpanMonth.objects.filter(tenant_id=tenant.id).values_list(
                "currency", "sale_month", "refund_month", "refunded", "full_sales", "full_discounts"
            )
        ),
        "spans": sorted(
            InsightSpan.objects.filter(tenant_id=tenant.id).values_list(
                "currency", "sale_day", "refund_day", "refunded", "full_sales", "full_discounts"
            )
        ),
        "service_span_months": sorted(
            InsightServiceSpanMonth.objects.filter(tenant_id=tenant.id).values_list(
                "currency", "sale_month", "refund_month", "services", "full_sales", "full_quantities", "full_discounts"
            ),
            key=repr,
        ),
        "service_days": sorted(
            InsightServiceDay.objects.filter(tenant_id=tenant.id).values_list(
                "day", "currency", "service_id", "revenue", "quantity"
            ),
            key=repr,
        ),
        "service_sets": sorted(
            InsightServiceSet.objects.filter(tenant_id=tenant.id).values_list("day", "currency", "services", "sales"),
            key=repr,
        ),
        "service_spans": sorted(
            InsightServiceSpan.objects.filter(tenant_id=tenant.id).values_list(
                "currency", "sale_day", "refund_day", "services", "full_sales", "full_quantities", "full_discounts"
            ),
            key=repr,
        ),
    }


def test_a_tenants_first_write_builds_its_aggregates_and_every_write_keeps_them(world):
    a = world.tenant_a  # Los Angeles
    with tenant_context(a.id, role="system"):
        assert not selectors.aggregates_ready(tenant=a)
        person = f.client(a, "Kept")
        sale = f.sale(a, f.local(a, 2025, 3, 9, 23, 30), 10000, client=person, tip=1000, tax=500)
        assert selectors.aggregates_ready(tenant=a)
        services.transaction_refund(tenant=a, transaction_id=sale.id, amount=2500, refunded_at=f.local(a, 2025, 4, 2))
        f.visit(a, f.local(a, 2025, 3, 10), client=person)
        f.visit(a, f.local(a, 2025, 4, 20), client=person, status="booked")
        kept = _rows(a)
        aggregates.rebuild(a)
        # What the triggers kept is what a rebuild from the rows makes.
        assert _rows(a) == kept
        assert kept["days"] == [
            (D(2025, 3, 9), "USD", 1, 10000, 1000, 500, 0, 0, 0, 0),
            (D(2025, 4, 2), "USD", 0, 0, 0, 0, 0, 2500, 250, 125),
        ]
        assert kept["spans"] == [("USD", D(2025, 3, 9), D(2025, 4, 2), 2500, 0, 0)]
        assert kept["visits"] == [(D(2025, 3, 10), 1, 0, 1, 1)]
        assert kept["clients"] == [(person.id, D(2025, 3, 9), 1, 1, None), (person.id, D(2025, 3, 10), 1, 1, None)]
        assert kept["first"] == [(person.id, D(2025, 3, 9))]
        # Refunded in full on April 9th: active through periods ending before it, and no
        # longer earlier custom (its status is refunded now).
        services.transaction_refund(tenant=a, transaction_id=sale.id, refunded_at=f.local(a, 2025, 4, 9))
        assert _rows(a)["clients"][0] == (person.id, D(2025, 3, 9), 0, 0, D(2025, 4, 9))
        assert _rows(a)["first"] == [(person.id, D(2025, 3, 10))]
        services.transaction_delete(tenant=a, transaction_id=sale.id)
        assert _rows(a)["days"] == [] and _rows(a)["spans"] == []
        assert _rows(a)["clients"] == [(person.id, D(2025, 3, 10), 1, 1, None)]


def test_active_and_returning_clients_are_counted_from_the_active_days(world):
    a = world.tenant_a  # Los Angeles
    with tenant_context(a.id, role="system"):
        regular, once = f.client(a, "Regular"), f.client(a, "Once")
        f.sale(a, f.local(a, 2025, 3, 5), 5000, client=regular)
        f.visit(a, f.local(a, 2025, 3, 20), client=regular)
        # Refunded in full on April 5th: active in March (which ends before), not after.
        later = f.sale(a, f.local(a, 2025, 3, 25), 3000, client=once)
        services.transaction_refund(tenant=a, transaction_id=later.id, refunded_at=f.local(a, 2025, 4, 5))

        def days() -> dict:
            return {
                day: (list(gaps), list(returning))
                for day, gaps, returning in InsightActiveDay.objects.values_list(
                    "day", "neg_gaps", "neg_returning_gaps"
                )
            }

        # Gaps: days since the client's previous permanent day (32767: none); returning gaps:
        # the least of that and the days since the first visit or purchase. Negated, sorted.
        assert days() == {D(2025, 3, 5): ([-32767], [0]), D(2025, 3, 20): ([-15], [-15])}
        march = selectors.dashboard(tenant=a, start=D(2025, 3, 1), end=D(2025, 3, 31))
        assert (march["active_clients"]["current"], march["new_clients"]["current"]) == (2, 2)
        assert march["returning_client_rate"]["current"] == 0
        # A purchase on an earlier day moves the next day's gap, in the same write.
        earlier = f.sale(a, f.local(a, 2025, 2, 1), 1000, client=regular)
        assert days() == {
            D(2025, 2, 1): ([-32767], [0]),
            D(2025, 3, 5): ([-32], [-32]),
            D(2025, 3, 20): ([-15], [-15]),
        }
        march = selectors.dashboard(tenant=a, start=D(2025, 3, 1), end=D(2025, 3, 31))
        assert _json(march) == _json(selectors.dashboard_raw(tenant=a, start=D(2025, 3, 1), end=D(2025, 3, 31)))
        assert march["active_clients"] == {"current": 2, "previous": 1, "change_percent": 100}
        assert march["new_clients"] == {"current": 1, "previous": 1, "change_percent": 0}
        assert march["returning_client_rate"]["current"] == 50
        # Past the full refund's day the sale of March 25th makes nobody active.
        spring = selectors.dashboard(tenant=a, start=D(2025, 3, 1), end=D(2025, 4, 10))
        assert spring["active_clients"]["current"] == 1
        assert _json(spring) == _json(selectors.dashboard_raw(tenant=a, start=D(2025, 3, 1), end=D(2025, 4, 10)))
        services.transaction_delete(tenant=a, transaction_id=earlier.id)
        assert days() == {D(2025, 3, 5): ([-32767], [0]), D(2025, 3, 20): ([-15], [-15])}


def test_whole_months_are_read_by_month_and_their_edges_by_day(world):
    """Migration 0014: revenue by service and the dashboard, over every period around the
    month boundaries of a history whose sales are refunded in full within their month, in the
    next month before, on and after a period's end, and across a month's last midnight,
    answer as the rows do."""
    a = world.tenant_a  # Los Angeles
    with tenant_context(a.id, role="system"):
        cut, color = f.service(a, "Cut"), f.service(a, "Color", f.category(a, "Hair"))

        def sold(when, lines, refunds=()):
            sale = f.sale(a, when, lines=lines, discount=100)
            for at, amount in refunds:
                services.transaction_refund(tenant=a, transaction_id=sale.id, amount=amount, refunded_at=at)

        sold(f.local(a, 2025, 2, 27), [(color, 1, 4000)], [(f.local(a, 2025, 3, 2), None)])
        sold(f.local(a, 2025, 3, 10), [(cut, 2, 3000)], [(f.local(a, 2025, 3, 31, 23, 30), None)])
        sold(f.local(a, 2025, 3, 15), [(cut, 1, 2500), (color, 1, 6000)], [(f.local(a, 2025, 4, 20), None)])
        sold(f.local(a, 2025, 3, 31, 23, 30), [(color, 1, 5000)], [(f.local(a, 2025, 4, 1, 0, 30), None)])
        sold(f.local(a, 2025, 4, 2), [(cut, 1, 2000)], [(f.local(a, 2025, 4, 3), 500), (f.local(a, 2025, 4, 30), None)])
        sold(f.local(a, 2025, 4, 30, 23, 59), [(cut, 3, 1500)], [(f.local(a, 2025, 5, 1), None)])
        sold(f.local(a, 2025, 5, 1), [(None, 1, 900)])
        assert selectors.aggregates_ready(tenant=a)
        starts = [D(2025, 2, 1), D(2025, 2, 27), D(2025, 3, 1), D(2025, 3, 2), D(2025, 3, 31), D(2025, 4, 1)]
        ends = [D(2025, 3, 30), D(2025, 3, 31), D(2025, 4, 1), D(2025, 4, 19), D(2025, 4, 20), D(2025, 4, 30)]
        ends += [D(2025, 5, 1), D(2025, 5, 31)]
        compared = 0
        for start in starts:
            for end in ends:
                if start <= end:
                    assert _json(selectors.revenue_by_service(tenant=a, start=start, end=end)) == _json(
                        selectors.revenue_by_service_raw(tenant=a, start=start, end=end)
                    ), (start, end)
                    # The dashboard's current and previous periods both.
                    assert _json(selectors.dashboard(tenant=a, start=start, end=end)) == _json(
                        selectors.dashboard_raw(tenant=a, start=start, end=end)
                    ), (start, end)
                    compared += 1
        assert compared == 45


@pytest.mark.parametrize(
    ("start", "end", "split"),
    [
        # No whole month: every day by day.
        (D(2025, 3, 5), D(2025, 3, 20), (D(2025, 3, 20), D(2025, 3, 21), None, None, D(2025, 3, 21))),
        (D(2025, 3, 1), D(2025, 3, 30), (D(2025, 3, 30), D(2025, 3, 31), None, None, D(2025, 3, 31))),
        # One whole month, exactly: refunds given back in it, by month.
        (D(2025, 3, 1), D(2025, 3, 31), (D(2025, 2, 28), D(2025, 4, 1), D(2025, 3, 1), D(2025, 3, 31), D(2025, 4, 1))),
        # A year ending mid-month: refunds given back in the end's month, by day.
        (
            D(2025, 12, 4),
            D(2026, 12, 3),
            (D(2025, 12, 31), D(2026, 12, 1), D(2026, 1, 1), D(2026, 11, 30), D(2026, 12, 1)),
        ),
        # A leap February as the last whole month.
        (D(2024, 1, 15), D(2024, 3, 1), (D(2024, 1, 31), D(2024, 3, 1), D(2024, 2, 1), D(2024, 2, 29), D(2024, 3, 1))),
    ],
)
def test_a_period_splits_into_whole_months_and_edge_days(start, end, split):
    head_end, tail_start, months_from, months_to, refund_cut = split
    bounds = selectors._month_split(start, end)
    assert (bounds["head_end"], bounds["tail_start"], bounds["refund_cut"]) == (head_end, tail_start, refund_cut)
    if months_from is None:
        assert bounds["months_from"] > bounds["months_to"]  # no month is read
    else:
        assert (bounds["months_from"], bounds["months_to"]) == (months_from, months_to)


def test_the_aggregates_are_the_tenants_own(world):
    a, b = world.tenant_a, world.tenant_b
    with tenant_context(a.id, role="system"):
        f.sale(a, f.local(a, 2025, 3, 1), 10000)
    with tenant_context(b.id, role="system"):
        assert not InsightDay.objects.exists() and not InsightState.objects.exists()
        f.sale(b, f.local(b, 2025, 3, 1), 700)
        assert list(InsightDay.objects.values_list("tenant_id", "gross")) == [(b.id, 700)]
        with connection.cursor() as cursor:
            # The runtime role cannot rebuild another tenant's rows: the policy refuses them.
            with pytest.raises(Exception, match="row-level security"), transaction.atomic():
                cursor.execute("SELECT analytics_insight_rebuild(%s, 'UTC')", [a.id])


def test_a_time_zone_change_uses_the_rows_until_the_rebuild_then_the_aggregates(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        f.sale(a, datetime.datetime(2025, 3, 2, 7, 30, tzinfo=UTC), 4000)  # LA: March 1st; UTC: March 2nd
        before = selectors.dashboard(tenant=a, start=D(2025, 3, 1), end=D(2025, 3, 1))
        assert before["currencies"][0]["revenue"]["current"] == 4000
        Tenant.objects.filter(id=a.id).update(timezone="UTC")
        a = Tenant.objects.get(id=a.id)
        assert not selectors.aggregates_ready(tenant=a)
        moved = selectors.dashboard(tenant=a, start=D(2025, 3, 1), end=D(2025, 3, 1))
        assert moved["currencies"][0]["revenue"]["current"] == 0
        assert (
            selectors.dashboard(tenant=a, start=D(2025, 3, 2), end=D(2025, 3, 2))["currencies"][0]["revenue"]["current"]
            == 4000
        )
    out = io.StringIO()
    call_command("rebuild_insight_aggregates", "--tenant", str(a.id), stdout=out)
    assert f"({a.id}) in UTC" in out.getvalue()
    with tenant_context(a.id, role="system"):
        assert selectors.aggregates_ready(tenant=a)
        assert list(InsightDay.objects.values_list("day", "gross")) == [(D(2025, 3, 2), 4000)]
        assert _json(selectors.dashboard(tenant=a, start=D(2025, 3, 1), end=D(2025, 3, 1))) == _json(moved)


def test_the_rebuild_command_repairs_one_tenant_or_all(world):
    a, b = world.tenant_a, world.tenant_b
    with tenant_context(a.id, role="system"):
        f.sale(a, f.local(a, 2025, 5, 1), 1200)
        InsightDay.objects.all().delete()  # damaged
    with tenant_context(b.id, role="system"):
        f.sale(b, f.local(b, 2025, 5, 1), 900)
        InsightDay.objects.all().update(gross=1)  # damaged too
    call_command("rebuild_insight_aggregates", "--tenant", str(a.id), stdout=io.StringIO())
    with tenant_context(a.id, role="system"):
        assert list(InsightDay.objects.values_list("day", "gross")) == [(D(2025, 5, 1), 1200)]
    with tenant_context(b.id, role="system"):
        kept_b = list(InsightDay.objects.values_list("gross", flat=True))
    assert kept_b == [1]  # not asked: left alone
    call_command("rebuild_insight_aggregates", stdout=io.StringIO())
    with tenant_context(b.id, role="system"):
        assert list(InsightDay.objects.values_list("gross", flat=True)) == [900]
    with pytest.raises(CommandError, match="no tenant"):
        call_command("rebuild_insight_aggregates", "--tenant", "00000000-0000-0000-0000-000000000000")


def test_the_zones_of_the_property_test_have_clock_changes_in_its_windows():
    # The property test's windows must hold DST days of its zones, or it tests less than it says.
    for name in ZONES:
        if name == "Asia/Kolkata":
            continue
        zone = zoneinfo.ZoneInfo(name)
        for window in WINDOWS:
            offsets = {(window + datetime.timedelta(days=n)).astimezone(zone).utcoffset() for n in range(0, 71)}
            assert len(offsets) == 2, (name, window)
