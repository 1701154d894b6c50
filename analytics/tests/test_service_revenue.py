"""The dashboard's `service_revenue` is the revenue-by-service total, to the cent.

Both are the period's exact service money (sales' totals less their tips and taxes, minus
the refunds' shares of it), rounded once (docs/insights.md). They used to differ by a cent:
the dashboard subtracted the ROUNDED tips and taxes from the revenue. A property test writes
random histories through the services (small and large amounts, tips and taxes, lines that
split a sale unevenly, partial refunds in later periods, corrections, deletions, two
currencies) and compares the two figures for random periods, on the dashboard's aggregate
path and its raw path, for the current and the previous period alike.
"""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import aggregates, selectors, services
from analytics.models import Transaction
from analytics.periods import previous_period
from analytics.tests import factories as f
from common.errors import Conflict, InvalidInput
from tenants.context import tenant_context
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

D = datetime.date
ZONES = ("America/Los_Angeles", "Pacific/Auckland", "Asia/Kolkata")
WINDOW = datetime.datetime(2025, 2, 20, tzinfo=datetime.UTC)  # holds spring clock changes
WINDOW_DAYS = 70

# Small amounts make every share a fraction near a half; large ones are ordinary sales.
amounts = st.one_of(st.integers(0, 12), st.integers(0, 60_000))
sale_op = st.tuples(
    st.just("sale"),
    st.integers(0, WINDOW_DAYS * 24 * 60),
    st.sampled_from(["USD", "USD", "EUR"]),
    amounts,
    st.integers(0, 4000),  # tip, capped by the total
    st.integers(0, 4000),  # tax, capped by what is left
    st.lists(st.integers(0, 9000), max_size=3),  # line amounts (scaled to the service money)
    st.sampled_from([0, 0, 1, 2]),  # 1: refunded in part at the sale, 2: in full
)
refund_op = st.tuples(
    st.just("refund"),
    st.integers(0, 20),  # which sale
    st.sampled_from([None, 1, 2, 3, "cent"]),  # the rest, that many quarters of it, or 1 cent
    st.integers(0, 40 * 24 * 60),  # minutes after the sale
)
update_op = st.tuples(
    st.just("update"),
    st.integers(0, 20),
    st.sampled_from(["tip", "tax", "total", "currency", "occurred_at"]),
    st.integers(-2000, 2000),
)
delete_op = st.tuples(st.just("delete"), st.integers(0, 20))
operations = st.lists(
    st.one_of(sale_op, sale_op, sale_op, refund_op, refund_op, refund_op, update_op, delete_op),
    min_size=1,
    max_size=20,
)
periods = st.lists(st.tuples(st.integers(0, 75), st.integers(0, 45)), min_size=1, max_size=3)


def _history(tenant: Tenant, ops: list[tuple], catalog: list) -> None:
    sales: list[Transaction] = []
    for op in ops:
        kind = op[0]
        try:
            if kind == "sale":
                _, minute, currency, total, tip, tax, weights, refunded = op
                tip = min(tip, total)
                tax = min(tax, total - tip)
                service_money = total - tip - tax
                lines = []
                if weights and sum(weights):
                    # Lines that add up to less than the service money (a discount on the
                    # whole sale), so each takes an uneven share of it.
                    lines = [
                        {"amount": service_money * w // (sum(weights) + 1), "service_id": catalog[n % 2].id}
                        for n, w in enumerate(weights)
                    ]
                refund = {0: 0, 1: total // 3, 2: total}[refunded]
                sales.append(
                    services.transaction_create(
                        tenant=tenant,
                        occurred_at=WINDOW + datetime.timedelta(minutes=minute),
                        currency=currency,
                        total_amount=total,
                        line_items=lines,
                        status="refunded" if refund and refund == total else "completed",
                        refunded_amount=refund,
                        tip_amount=tip,
                        tax_amount=tax,
                    )
                )
            elif kind == "refund" and sales:
                _, which, part, later = op
                sale = Transaction.objects.get(id=sales[which % len(sales)].id)
                rest = sale.total_amount - sale.refunded_amount
                amount = None if part is None else 1 if part == "cent" else max(1, rest * part // 4)
                services.transaction_refund(
                    tenant=tenant,
                    transaction_id=sale.id,
                    amount=amount,
                    refunded_at=sale.occurred_at + datetime.timedelta(minutes=later),
                )
            elif kind == "update" and sales:
                _, which, field, shift = op
                sale = Transaction.objects.get(id=sales[which % len(sales)].id)
                room = sale.total_amount - sale.tip_amount - sale.tax_amount
                changes = {
                    "tip": {"tip_amount": min(abs(shift), sale.tip_amount + room)},
                    "tax": {"tax_amount": min(abs(shift), sale.tax_amount + room)},
                    "total": {"total_amount": sale.total_amount + abs(shift)},
                    "currency": {"currency": "EUR" if sale.currency == "USD" else "USD"},
                    "occurred_at": {"occurred_at": sale.occurred_at + datetime.timedelta(minutes=shift)},
                }[field]
                services.transaction_update(tenant=tenant, transaction_id=sale.id, **changes)
            elif kind == "delete" and sales:
                services.transaction_delete(tenant=tenant, transaction_id=sales.pop(op[1] % len(sales)).id)
        except (InvalidInput, Conflict):
            pass  # a change the rules refuse (nothing to refund, a sale moved after its refund...)


def _by_service_total(tenant: Tenant, start: datetime.date, end: datetime.date) -> dict[str, int]:
    answer = selectors.revenue_by_service(tenant=tenant, start=start, end=end)
    return {group["currency"]: group["revenue"] for group in answer["currencies"]}


def _assert_service_revenue_agrees(tenant: Tenant, start: datetime.date, end: datetime.date) -> None:
    previous_start, previous_end = previous_period(start, end)
    totals = {
        "current": _by_service_total(tenant, start, end),
        "previous": _by_service_total(tenant, previous_start, previous_end),
    }
    for dashboard in (
        selectors.dashboard(tenant=tenant, start=start, end=end),
        selectors.dashboard_raw(tenant=tenant, start=start, end=end),
    ):
        for which, by_service in totals.items():
            shown = {group["currency"]: group["service_revenue"][which] for group in dashboard["currencies"]}
            for currency in shown.keys() | by_service.keys():
                assert shown.get(currency, 0) == by_service.get(currency, 0), (which, currency, start, end)


@pytest.fixture
def tenant(world) -> Tenant:
    return world.tenant_a


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(zone=st.sampled_from(ZONES), ops=operations, chosen=periods)
def test_the_dashboards_service_revenue_is_the_revenue_by_service_total(tenant, zone, ops, chosen):
    with tenant_context(tenant.id, role="system"), transaction.atomic():
        Tenant.objects.filter(id=tenant.id).update(timezone=zone)
        tenant.timezone = zone
        catalog = [f.service(tenant, "Cut"), f.service(tenant, "Color", f.category(tenant, "Hair"))]
        aggregates.rebuild(tenant)
        _history(tenant, ops, catalog)
        assert selectors.aggregates_ready(tenant=tenant)
        first = WINDOW.astimezone(tenant.tzinfo).date()
        for offset, length in chosen:
            start = first + datetime.timedelta(days=offset)
            _assert_service_revenue_agrees(tenant, start, start + datetime.timedelta(days=length))
        transaction.set_rollback(True)


def test_a_refunds_tip_and_tax_shares_do_not_round_the_service_revenue_apart(world):
    """3.00 with a 1.00 tip and 1.00 tax, 1.00 of it refunded: the refund gives back a third
    of each part. Service money 100 - 33.33 = 66.67 cents -> 67; tips and taxes 66.67 each
    -> 67 and 67. Subtracting the rounded parts from the revenue (200 - 67 - 67 = 66) was a
    cent off."""
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        sale = f.sale(a, f.local(a, 2025, 3, 3), 300, tip=100, tax=100)
        services.transaction_refund(tenant=a, transaction_id=sale.id, amount=100, refunded_at=f.local(a, 2025, 3, 4))
        for dashboard in (
            selectors.dashboard(tenant=a, start=D(2025, 3, 1), end=D(2025, 3, 31)),
            selectors.dashboard_raw(tenant=a, start=D(2025, 3, 1), end=D(2025, 3, 31)),
        ):
            usd = dashboard["currencies"][0]
            assert [usd[name]["current"] for name in ("revenue", "tips", "taxes", "service_revenue")] == [
                200,
                67,
                67,
                67,
            ]
        assert _by_service_total(a, D(2025, 3, 1), D(2025, 3, 31)) == {"USD": 67}
