"""The insights, against a real PostgreSQL, under RLS as the runtime role."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection

from analytics import selectors, services
from analytics.periods import local_bounds, validate_period
from analytics.tests import factories as f
from clients.tests.factories import ClientFactory
from common.errors import InvalidInput
from tenants.context import tenant_context
from tenants.errors import TenantContextError

D = datetime.date
MARCH = {"start": D(2025, 3, 1), "end": D(2025, 3, 31)}  # previous period: Jan 29 .. Feb 28 (31 days)


def usd(result: dict) -> dict:
    return next(c for c in result["currencies"] if c["currency"] == "USD")


@pytest.fixture
def salon(world):
    """Tenant A (Los Angeles) with a month of activity and the month before it."""
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        old = f.client(a, "Old", created_at=f.local(a, 2024, 6, 1))
        new = f.client(a, "New", created_at=f.local(a, 2025, 3, 10))
        visitor = f.client(a, "Visitor", created_at=f.local(a, 2024, 6, 1))
        color = f.category(a, "Color")
        cut = f.service(a, "Cut", category=color, price=15000)
        f.sale(a, f.local(a, 2024, 12, 1), 9000, client=old)  # before both periods
        f.visit(a, f.local(a, 2024, 11, 1), client=visitor)
        # previous period
        f.sale(a, f.local(a, 2025, 2, 10), 15000, client=old)
        f.visit(a, f.local(a, 2025, 2, 10), client=old)
        # current period
        f.sale(a, f.local(a, 2025, 3, 5), 10000, client=old)
        f.sale(a, f.local(a, 2025, 3, 10), client=new, lines=[(cut, 1, 15000), (None, 2, 5000)])
        f.sale(a, f.local(a, 2025, 3, 12), 5000, client=new, status="failed")
        f.sale(a, f.local(a, 2025, 3, 15), 8000, currency="EUR")
        f.visit(a, f.local(a, 2025, 3, 5), client=old)
        f.visit(a, f.local(a, 2025, 4, 20), client=old, status="booked")  # rebooks the Mar 5 visit
        f.visit(a, f.local(a, 2025, 3, 2), client=new, status="no_show")
        f.visit(a, f.local(a, 2025, 3, 10), client=new)
        f.visit(a, f.local(a, 2025, 3, 20), client=new, status="canceled")  # not a rebooking
        f.visit(a, f.local(a, 2025, 3, 20), client=visitor)
    return world


def test_dashboard_figures_and_previous_period(salon):
    a = salon.tenant_a
    with tenant_context(a.id, role="viewer"):
        result = selectors.dashboard(tenant=a, **MARCH)
    assert (result["previous_start"], result["previous_end"]) == (D(2025, 1, 29), D(2025, 2, 28))
    assert [c["currency"] for c in result["currencies"]] == ["USD", "EUR"]  # tenant's first, never summed
    dollars = usd(result)
    assert dollars["revenue"] == {"current": 30000, "previous": 15000, "change_percent": Decimal("100.0")}
    assert dollars["transactions"] == {"current": 2, "previous": 1, "change_percent": Decimal("100.0")}
    assert dollars["average_ticket"] == {"current": 15000, "previous": 15000, "change_percent": Decimal("0.0")}
    euros = result["currencies"][1]
    assert euros["revenue"] == {"current": 8000, "previous": 0, "change_percent": None}
    assert result["transactions"] == {"current": 3, "previous": 1, "change_percent": Decimal("200.0")}
    assert result["new_clients"] == {"current": 1, "previous": 0, "change_percent": None}
    assert result["active_clients"] == {"current": 3, "previous": 1, "change_percent": Decimal("200.0")}
    # old (bought in December) and visitor (visited in November) were active before March
    assert result["returning_client_rate"]["current"] == Decimal("66.7")
    assert result["returning_client_rate"]["previous"] == Decimal("100.0")
    # Mar 5 rebooked (Apr 20); Mar 10 only followed by a cancellation; Mar 20 not followed
    assert result["rebooking_rate"]["current"] == Decimal("33.3")
    assert result["rebooking_rate"]["previous"] == Decimal("100.0")  # Feb 10 followed by Mar 5
    assert result["no_show_rate"] == {"current": Decimal("25.0"), "previous": Decimal("0.0"), "change_percent": None}


def test_empty_period_is_zeros_not_nulls(salon):
    a = salon.tenant_a
    with tenant_context(a.id, role="viewer"):
        result = selectors.dashboard(tenant=a, start=D(2020, 1, 1), end=D(2020, 1, 31))
        by_service = selectors.revenue_by_service(tenant=a, start=D(2020, 1, 1), end=D(2020, 1, 31))
        series = selectors.revenue_timeseries(tenant=a, start=D(2020, 1, 1), end=D(2020, 1, 3), interval="day")
        top = selectors.top_clients(tenant=a, start=D(2020, 1, 1), end=D(2020, 1, 31), limit=10)
    assert result["currencies"] == [
        {
            "currency": "USD",
            **{
                name: {"current": 0, "previous": 0, "change_percent": None}
                for name in (
                    "revenue",
                    "transactions",
                    "average_ticket",
                    "gross_sales",
                    "refunds",
                    "service_revenue",
                    "tips",
                    "taxes",
                    "discounts",
                )
            },
        }
    ]
    for name in ("transactions", "new_clients", "active_clients"):
        assert result[name] == {"current": 0, "previous": 0, "change_percent": None}
    for name in ("returning_client_rate", "rebooking_rate", "no_show_rate"):
        assert result[name] == {"current": Decimal("0.0"), "previous": Decimal("0.0"), "change_percent": None}
    assert by_service["currencies"] == [
        {
            "currency": "USD",
            "transactions": 0,
            "quantity": Decimal("0"),
            "revenue": 0,
            "tips": 0,
            "taxes": 0,
            "discounts": 0,
            "categories": [],
        }
    ]
    assert series["currencies"] == [
        {"currency": "USD", "buckets": [{"start": D(2020, 1, d), "revenue": 0, "transactions": 0} for d in (1, 2, 3)]}
    ]
    assert top["currencies"] == [{"currency": "USD", "clients": []}]


def test_day_boundary_follows_the_tenant_time_zone(world):
    a, b = world.tenant_a, world.tenant_b
    with tenant_context(a.id, role="system"):
        # 23:30 on Jan 31 in Los Angeles is Feb 1, 07:30 UTC: it belongs to Jan 31.
        f.sale(a, f.local(a, 2025, 1, 31, 23, 30), 4200)
        f.sale(a, f.local(a, 2025, 2, 1, 0, 0), 100)  # the first instant of Feb 1
        days = selectors.revenue_timeseries(tenant=a, start=D(2025, 1, 30), end=D(2025, 2, 1), interval="day")
        months = selectors.revenue_timeseries(tenant=a, start=D(2025, 1, 1), end=D(2025, 2, 28), interval="month")
        jan31 = selectors.dashboard(tenant=a, start=D(2025, 1, 31), end=D(2025, 1, 31))
    assert [(x["start"], x["revenue"]) for x in usd(days)["buckets"]] == [
        (D(2025, 1, 30), 0),
        (D(2025, 1, 31), 4200),
        (D(2025, 2, 1), 100),
    ]
    assert [(x["start"], x["revenue"]) for x in usd(months)["buckets"]] == [(D(2025, 1, 1), 4200), (D(2025, 2, 1), 100)]
    assert usd(jan31)["revenue"]["current"] == 4200
    with tenant_context(b.id, role="system"):
        # Auckland is UTC+13 in summer: 00:30 on Feb 1 local is still Jan 31 in UTC.
        f.sale(b, f.local(b, 2025, 2, 1, 0, 30), 700, currency="NZD")
        series = selectors.revenue_timeseries(tenant=b, start=D(2025, 1, 31), end=D(2025, 2, 1), interval="day")
    nzd = next(c for c in series["currencies"] if c["currency"] == "NZD")
    assert [(x["start"], x["revenue"]) for x in nzd["buckets"]] == [(D(2025, 1, 31), 0), (D(2025, 2, 1), 700)]


def test_week_and_month_buckets_are_zero_filled(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        f.sale(a, f.local(a, 2025, 1, 8), 1000)
        weeks = selectors.revenue_timeseries(tenant=a, start=D(2025, 1, 1), end=D(2025, 1, 14), interval="week")
        months = selectors.revenue_timeseries(tenant=a, start=D(2025, 1, 15), end=D(2025, 3, 10), interval="month")
    assert [(x["start"], x["revenue"]) for x in usd(weeks)["buckets"]] == [
        (D(2024, 12, 30), 0),
        (D(2025, 1, 6), 1000),
        (D(2025, 1, 13), 0),
    ]
    assert [x["start"] for x in usd(months)["buckets"]] == [D(2025, 1, 1), D(2025, 2, 1), D(2025, 3, 1)]


def test_refunds_are_subtracted_everywhere(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        color, cuts = f.category(a, "Color"), f.category(a, "Cuts")
        balayage = f.service(a, "Balayage", category=color)
        cut = f.service(a, "Cut", category=cuts)
        consult = f.service(a, "Consultation")  # no category
        day = f.local(a, 2025, 5, 2)
        partial = f.sale(a, day, lines=[(balayage, 1, 6000), (cut, 1, 4000)])
        later = day + datetime.timedelta(hours=3)  # refunds dated the same local day
        services.transaction_refund(tenant=a, transaction_id=partial.id, amount=3000, refunded_at=later)  # 30 %
        full = f.sale(a, day, lines=[(cut, 1, 5000)])
        services.transaction_refund(tenant=a, transaction_id=full.id, refunded_at=later)
        f.sale(a, day, lines=[(consult, 2, 2000), (None, 1, 500)])
        f.sale(a, day, 999, status="failed", lines=[(cut, 1, 999)])
        dash = selectors.dashboard(tenant=a, start=D(2025, 5, 2), end=D(2025, 5, 2))
        report = selectors.revenue_by_service(tenant=a, start=D(2025, 5, 2), end=D(2025, 5, 2))
        series = selectors.revenue_timeseries(tenant=a, start=D(2025, 5, 2), end=D(2025, 5, 2), interval="day")
    assert usd(dash)["revenue"]["current"] == 7000 + 0 + 2500
    # The failed one is not a sale; the one fully refunded within the period is not a transaction.
    assert usd(dash)["transactions"]["current"] == 2
    assert usd(dash)["average_ticket"]["current"] == (7000 + 2500) // 2
    assert (usd(dash)["gross_sales"]["current"], usd(dash)["refunds"]["current"]) == (17500, 8000)
    assert usd(series)["buckets"][0]["revenue"] == 9500
    assert usd(series)["buckets"][0]["transactions"] == 2
    total = usd(report)
    assert (total["revenue"], total["transactions"], total["quantity"]) == (9500, 2, Decimal("5"))
    by_name = {c["category_name"]: c for c in total["categories"]}
    assert by_name["Color"]["revenue"] == 4200  # 6000 less its 30 % share of the refund
    assert by_name["Cuts"]["revenue"] == 2800  # 4000 * 70 % + 5000 fully refunded
    assert (by_name["Cuts"]["transactions"], by_name["Cuts"]["quantity"]) == (1, Decimal("1"))
    uncategorized = by_name["Uncategorized"]
    assert uncategorized["category_id"] is None and uncategorized["revenue"] == 2500
    assert {s["service_name"]: (s["revenue"], s["quantity"]) for s in uncategorized["services"]} == {
        "Consultation": (2000, Decimal("2")),
        "Other": (500, Decimal("1")),
    }
    assert [c["category_name"] for c in total["categories"]] == ["Color", "Cuts", "Uncategorized"]  # by revenue


def test_several_currencies_are_never_summed(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        person = f.client(a)
        f.sale(a, f.local(a, 2025, 6, 1), 1000, client=person)
        f.sale(a, f.local(a, 2025, 6, 1), 300, currency="EUR", client=person)
        f.sale(a, f.local(a, 2025, 6, 2), 700, currency="EUR")
        dash = selectors.dashboard(tenant=a, start=D(2025, 6, 1), end=D(2025, 6, 2))
        report = selectors.revenue_by_service(tenant=a, start=D(2025, 6, 1), end=D(2025, 6, 2))
        series = selectors.revenue_timeseries(tenant=a, start=D(2025, 6, 1), end=D(2025, 6, 2), interval="day")
        top = selectors.top_clients(tenant=a, start=D(2025, 6, 1), end=D(2025, 6, 2), limit=5)
    assert {c["currency"]: c["revenue"]["current"] for c in dash["currencies"]} == {"USD": 1000, "EUR": 1000}
    assert {c["currency"]: c["average_ticket"]["current"] for c in dash["currencies"]} == {"USD": 1000, "EUR": 500}
    assert {c["currency"]: c["revenue"] for c in report["currencies"]} == {"USD": 1000, "EUR": 1000}
    assert {c["currency"]: [b["revenue"] for b in c["buckets"]] for c in series["currencies"]} == {
        "USD": [1000, 0],
        "EUR": [300, 700],
    }
    assert [(c["currency"], [x["revenue"] for x in c["clients"]]) for c in top["currencies"]] == [
        ("USD", [1000]),
        ("EUR", [300]),
    ]


def test_average_ticket_rounds_half_up(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        f.sale(a, f.local(a, 2025, 7, 1), 1)
        f.sale(a, f.local(a, 2025, 7, 1), 2)  # 3 / 2 = 1.5 -> 2
        result = selectors.dashboard(tenant=a, start=D(2025, 7, 1), end=D(2025, 7, 1))
    assert usd(result)["average_ticket"]["current"] == 2


def test_top_clients_by_revenue_with_visits_and_last_visit(salon):
    a = salon.tenant_a
    with tenant_context(a.id, role="viewer"):
        result = selectors.top_clients(tenant=a, **MARCH, limit=10)
        only_one = selectors.top_clients(tenant=a, **MARCH, limit=1)
    clients = usd(result)["clients"]
    assert [(c["name"], c["revenue"], c["transactions"], c["visits"], c["last_visit"]) for c in clients] == [
        ("New Test", 20000, 1, 1, D(2025, 3, 10)),  # the failed sale is not counted
        ("Old Test", 10000, 1, 1, D(2025, 3, 5)),  # the April booking is neither a visit nor in range
    ]
    assert [c["name"] for c in usd(only_one)["clients"]] == ["New Test"]
    assert [c["currency"] for c in result["currencies"]] == ["USD"]  # the EUR sale had no client


def test_top_clients_are_named_as_the_client_list_names_them(world):
    """No name: the email, else the phone (clients.models.display_name_of), never "(no name)"
    for a client the list shows by phone."""
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        by_phone = ClientFactory.create(tenant=a, first_name="", last_name="", email="", phone="+14155550123")
        by_email = ClientFactory.create(tenant=a, first_name="", last_name="", email="no.name@example.test")
        f.sale(a, f.local(a, 2025, 3, 2), 3000, client=by_phone)
        f.sale(a, f.local(a, 2025, 3, 3), 2000, client=by_email)
        result = selectors.top_clients(tenant=a, **MARCH, limit=10)
    names = [(c["client_id"], c["name"]) for c in usd(result)["clients"]]
    assert names == [(by_phone.id, "+14155550123"), (by_email.id, "no.name@example.test")]
    assert [name for _, name in names] == [by_phone.display_name, by_email.display_name]


def test_tenant_b_sees_none_of_tenant_a(salon):
    b = salon.tenant_b
    with tenant_context(b.id, role="owner_admin"):
        dash = selectors.dashboard(tenant=b, **MARCH)
        report = selectors.revenue_by_service(tenant=b, **MARCH)
        top = selectors.top_clients(tenant=b, **MARCH, limit=100)
        series = selectors.revenue_timeseries(tenant=b, **MARCH, interval="month")
    assert [c["currency"] for c in dash["currencies"]] == ["USD"]
    assert usd(dash)["revenue"]["current"] == 0 and dash["active_clients"]["current"] == 0
    assert dash["new_clients"] == {"current": 0, "previous": 0, "change_percent": None}
    assert report["currencies"][0]["revenue"] == 0 and top["currencies"][0]["clients"] == []
    assert usd(series)["buckets"] == [{"start": D(2025, 3, 1), "revenue": 0, "transactions": 0}]


@pytest.mark.parametrize(
    "make_sql",
    [
        lambda t: selectors.dashboard_sql(tenant=t, **MARCH),
        lambda t: selectors.revenue_by_service_sql(tenant=t, **MARCH),
        lambda t: selectors.revenue_timeseries_sql(tenant=t, **MARCH, interval="day"),
        lambda t: selectors.top_clients_sql(tenant=t, **MARCH, limit=10),
    ],
)
def test_rls_holds_without_the_where_clause(salon, make_sql):
    """A's own SQL (tenant_id = A in the WHERE) run in B's context returns nothing of A's:
    the policies are the boundary, the explicit filter only the second belt."""
    a, b = salon.tenant_a, salon.tenant_b
    sql, params = make_sql(a)
    assert "tenant_id = %s" in sql and a.id in params
    with tenant_context(a.id, role="viewer"), connection.cursor() as cursor:
        cursor.execute(sql, params)
        as_a = cursor.fetchall()
    with tenant_context(b.id, role="viewer"), connection.cursor() as cursor:
        cursor.execute(sql, params)
        as_b = cursor.fetchall()
    assert any(any(v not in (0, None, [], False, True, "USD") for v in row) for row in as_a)
    flat = [v for row in as_b for v in row]
    assert all(v in (0, None, [], True, False, "USD") or isinstance(v, datetime.date) for v in flat), as_b


def test_selectors_refuse_another_tenant_than_the_context(salon):
    with tenant_context(salon.tenant_b.id, role="owner_admin"), pytest.raises(TenantContextError):
        selectors.dashboard(tenant=salon.tenant_a, **MARCH)


@pytest.mark.parametrize(
    "start,end,parameter",
    [
        (D(2025, 3, 2), D(2025, 3, 1), "end"),
        (D(2022, 1, 1), D(2025, 1, 1), "end"),
    ],
)
def test_bad_periods_name_the_parameter(world, start, end, parameter):
    with pytest.raises(InvalidInput) as caught:
        validate_period(start, end)
    assert caught.value.fields.keys() == {parameter}


def test_three_years_is_the_longest_period(world):
    validate_period(D(2022, 1, 1), D(2024, 12, 31))
    validate_period(D(2024, 2, 29), D(2027, 2, 27))


def test_local_bounds_are_utc_instants_of_local_midnights(world):
    begin, finish = local_bounds(world.tenant_a, D(2025, 1, 31), D(2025, 1, 31))
    assert begin == datetime.datetime(2025, 1, 31, 8, tzinfo=datetime.UTC)
    assert finish == datetime.datetime(2025, 2, 1, 8, tzinfo=datetime.UTC)
    # Across the spring-forward night the local day is 23 hours long.
    begin, finish = local_bounds(world.tenant_a, D(2025, 3, 9), D(2025, 3, 9))
    assert finish - begin == datetime.timedelta(hours=23)
