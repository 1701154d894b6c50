"""Dated refunds, tips/taxes/discounts and sums beyond bigint, in the insights.

Tenant A is in America/Los_Angeles, tenant B in Pacific/Auckland (see conftest.TenantWorld):
every date below is a local date of the tenant asked about.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from analytics import selectors, services
from analytics.models import Refund, Transaction
from analytics.tests import factories as f
from common.errors import InvalidInput
from tenants.context import tenant_context

D = datetime.date
BIG = 2**63 - 1  # the largest amount a bigint column holds


def usd(result: dict, currency: str = "USD") -> dict:
    return next(c for c in result["currencies"] if c["currency"] == currency)


def current(result: dict, name: str, currency: str = "USD"):
    return usd(result, currency)[name]["current"]


def month(tenant, year: int, number: int) -> dict[str, datetime.date]:
    first = D(year, number, 1)
    following = D(year + number // 12, number % 12 + 1, 1)
    return {"start": first, "end": following - datetime.timedelta(days=1)}


# --- a refund counts on its own date -----------------------------------------------------


def test_a_refund_in_a_later_month_lowers_that_month_and_leaves_the_sale_month_alone(world):
    a = world.tenant_a  # Los Angeles
    with tenant_context(a.id, role="system"):
        person = f.client(a, "Refunded")
        color = f.service(a, "Color")
        sale = f.sale(a, f.local(a, 2025, 2, 20), client=person, lines=[(color, 1, 10000)])
        before = selectors.dashboard(tenant=a, **month(a, 2025, 2))
        services.transaction_refund(
            tenant=a, transaction_id=sale.id, amount=3000, refunded_at=f.local(a, 2025, 3, 5, 10)
        )
        february = selectors.dashboard(tenant=a, **month(a, 2025, 2))
        march = selectors.dashboard(tenant=a, **month(a, 2025, 3))
        series = selectors.revenue_timeseries(tenant=a, start=D(2025, 2, 1), end=D(2025, 3, 31), interval="month")
        by_service_feb = selectors.revenue_by_service(tenant=a, **month(a, 2025, 2))
        by_service_mar = selectors.revenue_by_service(tenant=a, **month(a, 2025, 3))
        top_feb = selectors.top_clients(tenant=a, **month(a, 2025, 2), limit=10)
        top_mar = selectors.top_clients(tenant=a, **month(a, 2025, 3), limit=10)
    # February is what it was before the refund: reported figures do not move.
    assert february["currencies"] == before["currencies"]
    assert (current(february, "revenue"), current(february, "transactions")) == (10000, 1)
    # March carries the refund: no sale, -3000.
    assert current(march, "revenue") == -3000
    assert (current(march, "gross_sales"), current(march, "refunds"), current(march, "transactions")) == (0, 3000, 0)
    assert usd(march)["revenue"]["previous"] == 10000  # the previous period is February
    assert march["active_clients"]["current"] == 0  # a refund makes nobody active
    assert [(b["start"], b["revenue"], b["transactions"]) for b in usd(series)["buckets"]] == [
        (D(2025, 2, 1), 10000, 1),
        (D(2025, 3, 1), -3000, 0),
    ]
    assert (usd(by_service_feb)["revenue"], usd(by_service_feb)["transactions"]) == (10000, 1)
    march_services = usd(by_service_mar)
    assert (march_services["revenue"], march_services["transactions"], march_services["quantity"]) == (-3000, 0, 0)
    assert march_services["categories"][0]["services"][0]["service_name"] == "Color"
    assert [c["revenue"] for c in usd(top_feb)["clients"]] == [10000]
    assert usd(top_mar)["clients"] == []  # no transaction in March: not a top client of March


def test_refund_dates_follow_the_tenant_time_zone_across_midnight(world):
    b = world.tenant_b  # Auckland: 00:30 on Feb 1 there is still Jan 31 in UTC
    with tenant_context(b.id, role="system"):
        sale = f.sale(b, f.local(b, 2025, 1, 31, 23, 30), 10000)
        services.transaction_refund(tenant=b, transaction_id=sale.id, refunded_at=f.local(b, 2025, 2, 1, 0, 30))
        january = selectors.dashboard(tenant=b, **month(b, 2025, 1))
        february = selectors.dashboard(tenant=b, **month(b, 2025, 2))
        both = selectors.dashboard(tenant=b, start=D(2025, 1, 1), end=D(2025, 2, 28))
        days = selectors.revenue_timeseries(tenant=b, start=D(2025, 1, 31), end=D(2025, 2, 1), interval="day")
    assert f.local(b, 2025, 2, 1, 0, 30).astimezone(datetime.UTC).date() == D(2025, 1, 31)
    # January: the sale was not yet refunded when January ended, so it is a transaction.
    assert (current(january, "revenue"), current(january, "transactions")) == (10000, 1)
    assert (current(february, "revenue"), current(february, "transactions")) == (-10000, 0)
    # Over both months the sale was fully refunded within the period: 0 and no transaction.
    assert (current(both, "revenue"), current(both, "transactions"), current(both, "average_ticket")) == (0, 0, 0)
    assert [(x["revenue"], x["transactions"]) for x in usd(days, "USD")["buckets"]] == [(10000, 0), (-10000, 0)]


def test_partial_and_full_refunds_in_the_period(world):
    b = world.tenant_b
    with tenant_context(b.id, role="system"):
        kept, gone = f.client(b, "Kept"), f.client(b, "Gone")
        partial = f.sale(b, f.local(b, 2025, 4, 2), 8000, client=kept)
        full = f.sale(b, f.local(b, 2025, 4, 3), 5000, client=gone)
        services.transaction_refund(
            tenant=b, transaction_id=partial.id, amount=2000, refunded_at=f.local(b, 2025, 4, 9)
        )
        services.transaction_refund(tenant=b, transaction_id=full.id, amount=1000, refunded_at=f.local(b, 2025, 4, 4))
        services.transaction_refund(tenant=b, transaction_id=full.id, refunded_at=f.local(b, 2025, 4, 10))
        april = selectors.dashboard(tenant=b, **month(b, 2025, 4))
        top = selectors.top_clients(tenant=b, **month(b, 2025, 4), limit=10)
        # Asked about Apr 1-5 only, the second sale was not yet fully refunded: it counts.
        early = selectors.dashboard(tenant=b, start=D(2025, 4, 1), end=D(2025, 4, 5))
        assert Transaction.objects.filter(id=full.id, status="refunded").exists()
    assert (current(april, "revenue"), current(april, "refunds"), current(april, "gross_sales")) == (6000, 7000, 13000)
    assert current(april, "transactions") == 1  # the fully refunded sale is not a transaction
    assert current(april, "average_ticket") == 6000  # 8000 less its 2000 refund
    assert april["active_clients"]["current"] == 1  # nor does it make its client active
    assert [c["name"] for c in usd(top)["clients"]] == ["Kept Test"]
    assert (current(early, "revenue"), current(early, "transactions"), current(early, "average_ticket")) == (
        12000,
        2,
        6000,
    )
    assert early["active_clients"]["current"] == 2


def test_refund_rows_are_written_with_the_sale_and_validated(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        sale = f.sale(a, f.local(a, 2025, 1, 10), 9000)
        with pytest.raises(InvalidInput) as early:
            services.transaction_refund(
                tenant=a, transaction_id=sale.id, amount=100, refunded_at=f.local(a, 2025, 1, 9)
            )
        assert early.value.fields.keys() == {"refunded_at"}
        future = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
        with pytest.raises(InvalidInput):
            services.transaction_refund(tenant=a, transaction_id=sale.id, amount=100, refunded_at=future)
        services.transaction_refund(tenant=a, transaction_id=sale.id, amount=4000, refunded_at=f.local(a, 2025, 2, 1))
        services.transaction_refund(tenant=a, transaction_id=sale.id)  # the rest, now
        rows = list(
            Refund.objects.filter(transaction=sale).order_by("refunded_at").values_list("amount", "source", "currency")
        )
        sale.refresh_from_db()
    assert rows == [(4000, "manual", "USD"), (5000, "manual", "USD")]
    assert (sale.refunded_amount, sale.status) == (9000, "refunded")


def test_a_sale_recorded_with_a_refund_gets_it_dated_at_the_sale(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        sale = services.transaction_create(
            tenant=a, occurred_at=f.local(a, 2024, 6, 1), total_amount=5000, refunded_amount=1500
        )
        refund = Refund.objects.get(transaction=sale)
    assert (refund.amount, refund.refunded_at) == (1500, sale.occurred_at)


# --- tips, taxes and discounts -----------------------------------------------------------


def test_tips_taxes_and_discounts_are_shown_apart_from_service_revenue(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        cut, color = f.service(a, "Cut"), f.service(a, "Color")
        # Lines at list price 12000; 2000 off the whole sale; then tax 800 and a 1000 tip.
        sale = services.transaction_create(
            tenant=a,
            occurred_at=f.local(a, 2025, 6, 10),
            total_amount=10000 + 800 + 1000,
            tip_amount=1000,
            tax_amount=800,
            discount_amount=2000,
            line_items=[{"service_id": cut.id, "amount": 4000}, {"service_id": color.id, "amount": 8000}],
        )
        june = selectors.dashboard(tenant=a, **month(a, 2025, 6))
        by_service = selectors.revenue_by_service(tenant=a, **month(a, 2025, 6))
        services.transaction_refund(tenant=a, transaction_id=sale.id, amount=5900, refunded_at=f.local(a, 2025, 7, 2))
        july = selectors.dashboard(tenant=a, **month(a, 2025, 7))
        by_service_july = selectors.revenue_by_service(tenant=a, **month(a, 2025, 7))
        with pytest.raises(InvalidInput) as too_much:
            services.transaction_create(
                tenant=a, occurred_at=f.local(a, 2025, 6, 10), total_amount=100, tip_amount=60, tax_amount=41
            )
    assert too_much.value.fields.keys() == {"tip_amount"}
    assert {k: current(june, k) for k in ("revenue", "service_revenue", "tips", "taxes", "discounts")} == {
        "revenue": 11800,
        "service_revenue": 10000,
        "tips": 1000,
        "taxes": 800,
        "discounts": 2000,
    }
    total = usd(by_service)
    assert (total["revenue"], total["tips"], total["taxes"], total["discounts"]) == (10000, 1000, 800, 2000)
    # The lines share the service money (after the discount) in proportion: 1/3 and 2/3.
    lines = {s["service_name"]: s["revenue"] for c in total["categories"] for s in c["services"]}
    assert lines == {"Cut": 3333, "Color": 6667}
    # Half refunded in July: half of each part goes back, in July.
    assert {k: current(july, k) for k in ("revenue", "service_revenue", "tips", "taxes", "discounts")} == {
        "revenue": -5900,
        "service_revenue": -5000,
        "tips": -500,
        "taxes": -400,
        "discounts": 0,
    }
    assert (usd(by_service_july)["revenue"], usd(by_service_july)["tips"]) == (-5000, -500)


def test_tip_tax_and_discount_through_the_api(world):
    response = world.a.post(
        "/api/v1/transactions/",
        {
            "occurred_at": "2025-06-10T10:00:00Z",
            "tip_amount": 500,
            "tax_amount": 300,
            "discount_amount": 100,
            "line_items": [{"amount": 4000}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["total_amount"], body["tip_amount"], body["tax_amount"], body["discount_amount"]) == (
        4800,
        500,
        300,
        100,
    )
    refund = world.a.post(
        f"/api/v1/transactions/{body['id']}/refund/",
        {"amount": 800, "refunded_at": "2025-07-01T09:00:00Z"},
        format="json",
    )
    assert refund.status_code == 200, refund.content
    assert [(r["amount"], r["refunded_at"]) for r in refund.json()["refunds"]] == [(800, "2025-07-01T09:00:00Z")]
    bad = world.a.post(
        f"/api/v1/transactions/{body['id']}/refund/", {"refunded_at": "2025-06-01T00:00:00Z"}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["fields"].keys() == {"refunded_at"}
    dashboard = world.a.get("/api/v1/analytics/dashboard/?start=2025-07-01&end=2025-07-31").json()
    assert dashboard["currencies"][0]["refunds"]["current"] == 800


# --- sums beyond bigint --------------------------------------------------------------------


def test_sums_above_bigint_are_answered_exactly(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        person = f.client(a, "Whale")
        spa = f.service(a, "Spa", price=0)
        for day in (1, 2, 3):
            f.sale(a, f.local(a, 2025, 8, day), client=person, lines=[(spa, 1, BIG)])
        f.sale(a, f.local(a, 2025, 8, 4), BIG, client=person, refunded=BIG, refunded_at=f.local(a, 2025, 8, 5))
        period = {"start": D(2025, 8, 1), "end": D(2025, 8, 31)}
        dashboard = selectors.dashboard(tenant=a, **period)
        by_service = selectors.revenue_by_service(tenant=a, **period)
        series = selectors.revenue_timeseries(tenant=a, **period, interval="month")
        top = selectors.top_clients(tenant=a, **period, limit=5)
    assert current(dashboard, "revenue") == 3 * BIG
    assert current(dashboard, "gross_sales") == 4 * BIG and current(dashboard, "average_ticket") == BIG
    assert usd(by_service)["revenue"] == 3 * BIG
    assert usd(series)["buckets"][0]["revenue"] == 3 * BIG
    assert usd(top)["clients"][0]["revenue"] == 3 * BIG


def test_sums_above_bigint_through_the_api_are_200(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        for day in (1, 2):
            f.sale(a, f.local(a, 2025, 8, day), lines=[(None, 1, BIG)])
    for path in ("revenue-by-service", "revenue-timeseries", "dashboard", "top-clients"):
        response = world.a.get(f"/api/v1/analytics/{path}/?start=2025-08-01&end=2025-08-31")
        assert response.status_code == 200, (path, response.content)
    body = world.a.get("/api/v1/analytics/revenue-by-service/?start=2025-08-01&end=2025-08-31").json()
    assert body["currencies"][0]["revenue"] == 2 * BIG


# --- who counts ------------------------------------------------------------------------------


def test_new_clients_are_first_visits_or_purchases_not_imports(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        march = f.local(a, 2025, 3, 3)
        # Imported in March with their history: a purchase in 2024. Not new in March.
        imported = f.client(a, "Imported", created_at=march)
        f.sale(a, f.local(a, 2024, 5, 1), 4000, client=imported)
        f.sale(a, f.local(a, 2025, 3, 20), 4000, client=imported)
        # Imported in March, never came: not new (not even active).
        f.client(a, "Dormant", created_at=march)
        # On file since 2023, first visit in March: new in March.
        first_timer = f.client(a, "FirstTimer", created_at=f.local(a, 2023, 1, 1))
        f.visit(a, f.local(a, 2025, 3, 12), client=first_timer)
        # Bought in March, fully refunded in March: not a purchase, so neither new nor active.
        refunded = f.client(a, "Refunded", created_at=march)
        f.sale(a, f.local(a, 2025, 3, 5), 3000, client=refunded, refunded=3000, refunded_at=f.local(a, 2025, 3, 6))
        result = selectors.dashboard(tenant=a, **month(a, 2025, 3))
    assert result["new_clients"]["current"] == 1
    assert result["active_clients"]["current"] == 2
    assert result["returning_client_rate"]["current"] == Decimal("50.0")


def test_the_period_scan_of_sales_stays_index_only(world):
    """Every report still reads the period's sales from transaction_tenant_time_idx alone
    (the new tip/tax/discount columns are INCLUDEd). The refunds' plans are checked at scale
    by `manage.py benchmark` (with statistics; a handful of rows here has none)."""
    from django.db import connection

    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        sale = f.sale(a, f.local(a, 2025, 5, 1), 5000, tip=100, tax=50, discount=10)
        services.transaction_refund(tenant=a, transaction_id=sale.id, amount=100, refunded_at=f.local(a, 2025, 5, 2))
        # A tenant's sales outside the period: with a table of a handful of rows (no
        # statistics, never vacuumed) every index looks alike to the planner, and which one it
        # took depended on what earlier tests had left in the table.
        regular = f.client(a, "Regular")
        Transaction.objects.bulk_create(
            [
                f.TransactionFactory.build(
                    tenant=a, client=regular, occurred_at=f.local(a, 2024, 1, 10), total_amount=100 + n
                )
                for n in range(2000)
            ]
        )
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            plans = {}
            for name, (sql, params) in {
                "dashboard": selectors.dashboard_sql(tenant=a, start=D(2025, 5, 1), end=D(2025, 5, 31)),
                "revenue_by_service": selectors.revenue_by_service_sql(
                    tenant=a, start=D(2025, 5, 1), end=D(2025, 5, 31)
                ),
                "timeseries": selectors.revenue_timeseries_sql(
                    tenant=a, start=D(2025, 5, 1), end=D(2025, 5, 31), interval="day"
                ),
                "top_clients": selectors.top_clients_sql(tenant=a, start=D(2025, 5, 1), end=D(2025, 5, 31), limit=10),
            }.items():
                cursor.execute("EXPLAIN " + sql, params)
                plans[name] = "\n".join(row[0] for row in cursor.fetchall())
    for name, plan in plans.items():
        assert "Index Only Scan using transaction_tenant_time_idx" in plan, (name, plan)
        assert "Seq Scan" not in plan, (name, plan)


def test_a_sale_cannot_be_moved_after_its_refunds(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        sale = f.sale(a, f.local(a, 2025, 1, 10), 9000)
        services.transaction_refund(tenant=a, transaction_id=sale.id, amount=100, refunded_at=f.local(a, 2025, 1, 12))
        with pytest.raises(InvalidInput) as late:
            services.transaction_update(tenant=a, transaction_id=sale.id, occurred_at=f.local(a, 2025, 1, 13))
        assert late.value.fields.keys() == {"occurred_at"}
        services.transaction_update(
            tenant=a, transaction_id=sale.id, occurred_at=f.local(a, 2025, 1, 11), currency="EUR"
        )
        assert Refund.objects.get(transaction=sale).currency == "EUR"  # refunds follow the sale's currency


@pytest.mark.parametrize(
    "tenant_key,sale_day,refund_day,refund_hour",
    [
        # Los Angeles springs forward on 9 March 2025 (a 23-hour day); 23:30 is still the 9th.
        ("tenant_a", D(2025, 3, 8), D(2025, 3, 9), 23),
        # Auckland falls back on 6 April 2025 (a 25-hour day); 00:30 on the 6th is the 5th in UTC.
        ("tenant_b", D(2025, 4, 5), D(2025, 4, 6), 0),
    ],
)
def test_refund_day_buckets_across_clock_changes(world, tenant_key, sale_day, refund_day, refund_hour):
    tenant = getattr(world, tenant_key)
    with tenant_context(tenant.id, role="system"):
        sale = f.sale(tenant, f.local(tenant, sale_day.year, sale_day.month, sale_day.day, 0, 30), 7000)
        services.transaction_refund(
            tenant=tenant,
            transaction_id=sale.id,
            amount=2500,
            refunded_at=f.local(tenant, refund_day.year, refund_day.month, refund_day.day, refund_hour, 30),
        )
        days = selectors.revenue_timeseries(
            tenant=tenant, start=sale_day, end=refund_day + datetime.timedelta(days=1), interval="day"
        )
    assert [(b["start"], b["revenue"], b["transactions"]) for b in usd(days)["buckets"]] == [
        (sale_day, 7000, 1),
        (refund_day, -2500, 0),
        (refund_day + datetime.timedelta(days=1), 0, 0),
    ]


def test_a_refund_without_a_date_is_never_dated_before_its_sale(world):
    a = world.tenant_a
    ahead = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)
    with tenant_context(a.id, role="system"):
        sale = f.sale(a, ahead, 1000)
        services.transaction_refund(tenant=a, transaction_id=sale.id)
        assert Refund.objects.get(transaction=sale).refunded_at == ahead
