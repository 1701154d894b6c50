import calendar
import datetime
import uuid

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Q, Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clients.rules import celebration_date, next_birthday
from clients.selectors import (
    BirthdayPosition,
    _window_stretches,
    birthdays_upcoming,
    birthdays_upcoming_count,
    birthdays_window_page,
    tenant_client_rows,
)
from conftest import TenantWorld
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db

D = datetime.date


def make(tenant, month, day, year=None, name="x"):
    return ClientFactory(tenant=tenant, first_name=name, birthday_month=month, birthday_day=day, birth_year=year)


def test_celebration_date_feb_29():
    assert celebration_date(2, 29, 2024) == D(2024, 2, 29)
    assert celebration_date(2, 29, 2025) == D(2025, 2, 28)
    assert next_birthday(2, 29, D(2025, 3, 1)) == D(2026, 2, 28)
    assert next_birthday(12, 31, D(2025, 12, 31)) == D(2025, 12, 31)


def test_window_wraps_the_new_year_and_sorts_by_date():
    world = TenantWorld()
    t = world.tenant_a
    with tenant_context(t.id, role="system"):
        jan2 = make(t, 1, 2, 1990, "Jan")
        dec30 = make(t, 12, 30, None, "Dec")
        make(t, 1, 5, None, "Late")
        make(t, 12, 27, None, "Early")
        result = birthdays_upcoming(tenant=t, start=D(2025, 12, 28), days_ahead=7)
    assert [item.client.id for item in result] == [dec30.id, jan2.id]
    assert result[1].date == D(2026, 1, 2) and result[1].days_until == 5 and result[1].turning == 36
    assert result[0].turning is None
    with tenant_context(t.id, role="system"):
        rows = birthdays_upcoming(tenant=t, start=D(2025, 12, 28), days_ahead=7, as_rows=True)
    # The same birthdays, each client as a row of the list (tenant_client_rows).
    assert [(item.client["id"], item.date, item.turning) for item in rows] == [
        (item.client.id, item.date, item.turning) for item in result
    ]
    assert rows[1].client["first_name"] == "Jan" and rows[1].client["tag_names"] == []


def test_feb_29_in_common_and_leap_years():
    world = TenantWorld()
    t = world.tenant_a
    with tenant_context(t.id, role="system"):
        leapling = make(t, 2, 29, 2000)
        common = birthdays_upcoming(tenant=t, start=D(2025, 2, 28), days_ahead=0)
        leap_28 = birthdays_upcoming(tenant=t, start=D(2024, 2, 28), days_ahead=0)
        leap_29 = birthdays_upcoming(tenant=t, start=D(2024, 2, 29), days_ahead=0)
    assert (
        [i.client.id for i in common] == [leapling.id] and common[0].date == D(2025, 2, 28) and common[0].turning == 25
    )
    assert leap_28 == []
    assert [i.date for i in leap_29] == [D(2024, 2, 29)]


def test_only_the_current_tenant_and_bounds():
    world = TenantWorld()
    with tenant_context(world.tenant_b.id, role="system"):
        make(world.tenant_b, 6, 1)
    with tenant_context(world.tenant_a.id, role="system"):
        t = world.tenant_a
        mine = make(t, 6, 1)
        assert [i.client.id for i in birthdays_upcoming(tenant=t, start=D(2025, 6, 1), days_ahead=0)] == [mine.id]
        assert len(birthdays_upcoming(tenant=t, start=D(2025, 6, 2), days_ahead=366)) == 1
        with pytest.raises(ValueError):
            birthdays_upcoming(tenant=t, start=D(2025, 6, 1), days_ahead=367)
        with pytest.raises(ValueError):
            birthdays_upcoming(tenant=t, start=D(2025, 6, 1), days_ahead=-1)


def _month_days_celebrated(start, end):
    """The month-days a window [start, end] celebrates (what the window held before it was
    read in stretches): every day's, and Feb 29 on Feb 28 of a common year."""
    values, day = set(), start
    while day <= end:
        values.add((day.month, day.day))
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            values.add((2, 29))
        day += datetime.timedelta(days=1)
    return values


def test_window_stretches_hold_each_month_day_once_on_its_next_birthday():
    for start in (D(2027, 1, 1) + datetime.timedelta(days=n) for n in range(731)):  # a common and a leap year
        for days_ahead in (0, 6, 59, 365, 366):
            stretches = _window_stretches(start, days_ahead)
            held = [(month_day, date) for stretch in stretches for month_day, date in stretch.dates.items()]
            end = start + datetime.timedelta(days=days_ahead)
            assert {month_day for month_day, _ in held} == _month_days_celebrated(start, end), (start, days_ahead)
            assert len(held) == len({month_day for month_day, _ in held})
            assert all(date == next_birthday(*month_day, start) for month_day, date in held)
            # In the window's order: each stretch's dates ascend with its month-days and follow
            # the stretch before; a day of two month-days is a stretch of its own.
            dates = [date for _, date in held]
            assert dates == sorted(dates)
            for stretch in stretches:
                assert sorted(stretch.dates.values()) == [stretch.dates[md] for md in sorted(stretch.dates)]
                assert stretch.one_day == (len(set(stretch.dates.values())) < len(stretch.dates))


def _all_pages(tenant, start, days_ahead, size, backwards=False, **kwargs):
    """Every page of the window, following positions as the endpoint's links do."""
    found, position = [], None
    for _ in range(1000):  # a position that does not move on would page for ever
        page = birthdays_window_page(
            tenant=tenant,
            start=start,
            days_ahead=days_ahead,
            size=size,
            position=position,
            backwards=backwards,
            **kwargs,
        )
        assert len(page.birthdays) <= size
        found = [*page.birthdays, *found] if backwards else [*found, *page.birthdays]
        if not page.more:
            return found
        position = BirthdayPosition.of(page.birthdays[0] if backwards else page.birthdays[-1])
    raise AssertionError("the pages never end")


def test_window_pages_keep_birthdays_upcomings_order_and_values():
    """Paged in SQL, forwards or backwards, any page size: the same birthdays as
    birthdays_upcoming, in its order (date, then the names by code point, then the id), with
    its dates, days and ages: across new year, on Feb 28 of common years (mixed with the
    Feb 29 birthdays by name) and Feb 29 of leap years."""
    world = TenantWorld()
    t = world.tenant_a
    names = [("adams", "Zoe"), ("Baker", "amy"), ("Öberg", "Al"), ("Baker", "Amy"), ("Zed", ""), ("", "Solo")]
    month_days = [(12, 30), (12, 31), (1, 1), (1, 2), (2, 27), (2, 28), (2, 29), (3, 1), (6, 15)]
    with tenant_context(t.id, role="system"):
        for n, (month, day) in enumerate(month_days):
            for last_name, first_name in names[n % 3 : n % 3 + 4]:
                ClientFactory(
                    tenant=t,
                    first_name=first_name,
                    last_name=last_name,
                    birthday_month=month,
                    birthday_day=day,
                    birth_year=1990 + n if n % 2 else None,
                )
            ClientFactory(tenant=t, last_name="Twin", first_name="Same", birthday_month=month, birthday_day=day)
            ClientFactory(tenant=t, last_name="Twin", first_name="Same", birthday_month=month, birthday_day=day)
        archived = ClientFactory(tenant=t, birthday_month=1, birthday_day=1, archived_at=timezone.now())
        # Not a date, but the check constraint lets it in: in no window, and no error.
        odd = ClientFactory(tenant=t, birthday_month=2, birthday_day=30)
        windows = [
            (D(2026, 12, 29), 7),
            (D(2027, 2, 26), 4),
            (D(2028, 2, 26), 4),
            (D(2027, 2, 28), 0),
            (D(2028, 2, 29), 366),
            (D(2027, 3, 1), 366),
            (D(2027, 1, 2), 365),
        ]
        for start, days_ahead in windows:
            expected = birthdays_upcoming(tenant=t, start=start, days_ahead=days_ahead, as_rows=True)
            assert expected, (start, days_ahead)
            count = birthdays_upcoming_count(tenant=t, start=start, days_ahead=days_ahead)
            assert count == len(expected), (start, days_ahead)
            for size in (1, 3, 50):
                for backwards in (False, True):
                    pages = _all_pages(t, start, days_ahead, size, backwards)
                    assert [(i.client["id"], i.date, i.days_until, i.turning) for i in pages] == [
                        (i.client["id"], i.date, i.days_until, i.turning) for i in expected
                    ], (start, days_ahead, size, backwards)
            assert archived.id not in {i.client["id"] for i in expected} and odd.id not in {
                i.client["id"] for i in expected
            }
        # Feb 28 of a common year: the Feb 28 and Feb 29 birthdays mixed by name.
        common = [(i.client["last_name"], i.client["birthday_day"]) for i in _all_pages(t, D(2027, 2, 28), 0, 2)]
        assert {day for _, day in common} == {28, 29} and common == sorted(common, key=lambda item: item[0])
        with pytest.raises(ValueError):  # a position on a day outside the window
            birthdays_window_page(
                tenant=t,
                start=D(2027, 2, 28),
                days_ahead=0,
                size=2,
                position=BirthdayPosition(D(2027, 3, 1), "", "", uuid.uuid4()),
            )


def test_window_pages_apply_the_given_rows_and_stay_in_the_tenant():
    world = TenantWorld()
    with tenant_context(world.tenant_b.id, role="system"):
        theirs = ClientFactory(tenant=world.tenant_b, last_name="A", birthday_month=6, birthday_day=1)
    t = world.tenant_a
    with tenant_context(t.id, role="system"):
        consenting = [
            ClientFactory(tenant=t, last_name=f"L{n}", birthday_month=6, birthday_day=1 + n % 3, sms_consent=n % 2 == 0)
            for n in range(9)
        ]
        rows = tenant_client_rows(tenant=t).filter(sms_consent=True)
        pages = _all_pages(t, D(2025, 6, 1), 2, 2, clients=rows)
        assert [i.client["id"] for i in pages] == [
            i.client["id"]
            for i in birthdays_upcoming(tenant=t, start=D(2025, 6, 1), days_ahead=2, clients=rows, as_rows=True)
        ]
        assert {i.client["id"] for i in pages} == {c.id for c in consenting if c.sms_consent}
        assert birthdays_upcoming_count(tenant=t, start=D(2025, 6, 1), days_ahead=2, clients=rows) == 5
        # Tenant B's client sits before every one of A's, at a position A could be handed.
        position = BirthdayPosition(D(2025, 6, 1), theirs.last_name, theirs.first_name, theirs.id)
        after = birthdays_window_page(tenant=t, start=D(2025, 6, 1), days_ahead=2, size=50, position=position)
        assert theirs.id not in {i.client["id"] for i in after.birthdays} and len(after.birthdays) == 9


def test_window_page_reads_the_birthday_index_in_order_under_rls():
    """The page's statement, as the runtime role under RLS: its window and its position are
    conditions of client_tenant_birthday_idx (leakproof comparisons), and nothing sorts the
    clients (the index gives their order). Sequential scans are off: the table is tiny."""
    world = TenantWorld()
    t = world.tenant_a
    with tenant_context(t.id, role="system"):
        for n in range(5):
            ClientFactory(tenant=t, last_name=f"L{n}", birthday_month=6, birthday_day=1 + n)
    with tenant_context(t.id, role="owner_admin"):
        first = birthdays_window_page(tenant=t, start=D(2025, 6, 1), days_ahead=5, size=2)
        with CaptureQueriesContext(connection) as statements:
            birthdays_window_page(
                tenant=t, start=D(2025, 6, 1), days_ahead=5, size=2, position=BirthdayPosition.of(first.birthdays[-1])
            )
        (statement,) = [q["sql"] for q in statements.captured_queries if 'FROM "clients_client"' in q["sql"]]
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == settings.DATABASE_APP_ROLE
            cursor.execute("EXPLAIN " + statement.split("; ", 1)[-1])
            plan = "\n".join(row[0] for row in cursor.fetchall())
    scan = next(part for part in plan.split("->") if "clients_client" in part and "Scan" in part)
    assert "client_tenant_birthday_idx" in scan and "ROW(birthday_month, birthday_day, (last_name)" in scan, plan
    assert "Sort Key: clients_client" not in plan, plan


def test_tenant_today_differs_by_time_zone():
    world = TenantWorld()  # A: America/Los_Angeles, B: Pacific/Auckland
    instant = datetime.datetime(2025, 3, 10, 5, 0, tzinfo=datetime.UTC)
    assert world.tenant_a.today(instant) == D(2025, 3, 9)
    assert world.tenant_b.today(instant) == D(2025, 3, 10)


# --- search, tags, duplicates ------------------------------------------------------------

from clients.models import Client  # noqa: E402
from clients.normalize import contact_hash  # noqa: E402
from clients.selectors import client_duplicates, client_has_tag, client_list, client_search, tag_counts  # noqa: E402
from clients.services import client_tag_add  # noqa: E402
from clients.tests.factories import ClientFactory  # noqa: E402


def _phone(value):
    return {"phone": value, "phone_hash": contact_hash(value)}


def test_search_by_name_email_and_phone_in_any_format():
    world = TenantWorld()
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        amy = ClientFactory(
            tenant=t, first_name="Amy", last_name="Lee", email="amy@example.com", **_phone("+14155550123")
        )
        ClientFactory(tenant=t, first_name="Bea", last_name="Amsel", email="bea@example.com", **_phone("+14155550999"))

        def ids(query):
            return {c.id for c in client_search(client_list(tenant=t), query, tenant=t)}

        assert ids("amy lee") == {amy.id}
        assert ids("LEE") == {amy.id}
        assert ids("Amy@Example.com") == {amy.id}
        for phone in ("(415) 555-0123", "415.555.0123", "+1 415 555 0123", "555-0123"):
            assert ids(phone) == {amy.id}, phone
        assert len(ids("am")) == 2  # Amy, Amsel
        assert ids("nobody") == set()


def test_search_finds_a_name_in_the_first_the_last_or_across_both():
    world = TenantWorld()
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        only_first = ClientFactory(tenant=t, first_name="Bo", last_name="", email="one@example.com")
        only_last = ClientFactory(tenant=t, first_name="", last_name="Ng", email="two@example.com")
        both = ClientFactory(tenant=t, first_name="Zoë", last_name="Öberg", email="three@example.com")

        def ids(query):
            return {c.id for c in client_search(client_list(tenant=t), query, tenant=t)}

        assert ids("bo") == {only_first.id}
        assert ids("NG") == {only_last.id}
        assert ids("zoë ö") == ids("Ë ÖB") == ids("öberg") == {both.id}
        assert ids("bo ng") == set()  # two clients' names are never joined


def test_search_finds_what_icontains_finds():
    """client_search compares with strpos() (for the planner: see selectors._contains); its
    answers are Django's icontains', the LIKE wildcards in a query included."""
    world = TenantWorld()
    t = world.tenant_a
    names = [("Ann", "O'Hara"), ("ß", "Straße"), ("100%", "Cotton"), ("a_b", "c"), ("İnci", "ǅemal"), ("", "")]
    with tenant_context(t.id, role="staff"):
        for number, (first, last) in enumerate(names):
            ClientFactory(tenant=t, first_name=first, last_name=last, email=f"{first.lower()}{number}@x-y.com")
        queries = "ann O'H ß SS STRASSE straße % 100% _ a_b a%b \\ i ǆ x-y 1@".split()
        queries += ["o'hara ann", "a ann0", "cotton 1"]  # across the name and the email: no match
        for query in queries:
            found = {c.id for c in client_search(client_list(tenant=t), query, tenant=t)}
            expected = {
                c.id
                for c in Client.objects.alias(full_name=Concat("first_name", Value(" "), "last_name")).filter(
                    Q(full_name__icontains=query) | Q(email__icontains=query)
                )
            }
            assert found == expected, query
        assert len({c.id for c in client_search(client_list(tenant=t), "%", tenant=t)}) == 1


def test_tag_filter_and_counts_stay_in_the_tenant():
    world = TenantWorld()
    with tenant_context(world.tenant_b.id, role="staff"):
        theirs = ClientFactory(tenant=world.tenant_b)
        client_tag_add(tenant=world.tenant_b, client_id=theirs.id, name="VIP")
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        one, two, _three = (ClientFactory(tenant=t) for _ in range(3))
        for client in (one, two):
            client_tag_add(tenant=t, client_id=client.id, name="vip")
        client_tag_add(tenant=t, client_id=one.id, name="color")
        assert {c.id for c in client_has_tag(client_list(tenant=t), "VIP", tenant=t)} == {one.id, two.id}
        assert {(tag.name, tag.client_count) for tag in tag_counts(tenant=t)} == {("vip", 2), ("color", 1)}


def test_duplicates_are_grouped_through_shared_email_or_phone():
    world = TenantWorld()
    with tenant_context(world.tenant_b.id, role="staff"):
        ClientFactory(tenant=world.tenant_b, email="amy@example.com")
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        a = ClientFactory(tenant=t, email="amy@example.com")
        b = ClientFactory(tenant=t, email="amy@example.com", **_phone("+14155550123"))
        c = ClientFactory(tenant=t, **_phone("+14155550123"))
        d = ClientFactory(tenant=t, email="dee@example.com", **_phone("+14155550777"))
        e = ClientFactory(tenant=t, email="dee@example.com")
        ClientFactory(tenant=t, email="", phone="")
        ClientFactory(tenant=t, email="", phone="")  # blanks are not duplicates of each other
        groups = client_duplicates(tenant=t)
    assert [[x.id for x in g.clients] for g in groups] == [[a.id, b.id, c.id], [d.id, e.id]]
    assert groups[0].reasons == ["email", "phone"] and groups[1].reasons == ["email"]
