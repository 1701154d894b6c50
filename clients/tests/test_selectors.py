import datetime

import pytest
from django.db.models import Q, Value
from django.db.models.functions import Concat

from clients.rules import celebration_date, next_birthday
from clients.selectors import birthdays_upcoming
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
