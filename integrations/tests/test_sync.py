"""The sync engine against recorded-shape pages (HTTP stubbed, database real)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.db.models import Sum

from analytics.models import Appointment, Service, ServiceCategory, Transaction, TransactionLineItem
from clients.models import Client, ClientExternalId
from integrations.models import CatalogVariation, ConnectionRoute, IntegrationConnection
from integrations.providers.base import ProviderError
from integrations.providers.square import SquareClient
from integrations.tests import fakes
from integrations.tests.helpers import connect, no_wait_policy, reload, resource_counts, sync
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


def customers_pages(total: int, size: int = 100) -> list[list[dict]]:
    people = [fakes.square_customer(i) for i in range(total)]
    return [people[i : i + size] for i in range(0, total, size)]


def in_tenant(tenant):
    return tenant_context(tenant.id, role="system")


@responses.activate
def test_square_full_sync_pages_to_the_end_and_links_sales_to_services(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    orders = {
        "ORD1": fakes.square_order("ORD1", [("Balayage", "VAR_BALAYAGE_SHORT", 15000), ("Trim", "VAR_TRIM", 4000)])
    }
    fakes.stub_square(
        responses.mock,
        customer_pages=customers_pages(205),
        catalog=fakes.square_catalog(),
        payment_pages=[
            [fakes.square_payment(1, customer_id="SQCUST000001", order_id="ORD1", amount=19000)],
            [fakes.square_payment(2, status="APPROVED"), fakes.square_payment(3, status="FAILED")],
        ],
        orders=orders,
    )

    job = sync(tenant, connection)

    assert job.status == "succeeded", job.failure_reason
    assert resource_counts(job, "customers") == {
        "fetched": 205,
        "created": 205,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
        "skipped": 0,
    }
    customer_calls = [c for c in responses.calls if urlparse(c.request.url).path == "/v2/customers"]
    assert len(customer_calls) == 3  # every page, then no cursor: stop
    with in_tenant(tenant):
        assert Client.objects.count() == 205
        assert ClientExternalId.objects.filter(provider="square").count() == 205
        amy = Client.objects.get(external_ids__external_id="SQCUST000001")
        # Square's 0000 year means "unknown": month and day only.
        assert (amy.birthday_month, amy.birthday_day, amy.birth_year) == (5, 17, None)
        assert amy.email == "person1@example.com" and amy.email_consent and amy.source == "square"
        # Catalog: reporting_category wins over categories[0]; legacy category_id still resolves.
        balayage = Service.objects.get(source="square", external_id="ITEM_BALAYAGE")
        trim = Service.objects.get(source="square", external_id="ITEM_TRIM")
        assert balayage.category.name == "Color" and trim.category.name == "Cuts"
        assert (balayage.price_amount, balayage.duration_minutes) == (15000, 120)
        assert CatalogVariation.objects.filter(service=balayage).count() == 2
        # Payments: the approved one waits, the failed one is recorded as failed.
        sale = Transaction.objects.get(external_id="PAY000001")
        assert sale.client == amy and sale.total_amount == 19000 and sale.status == "completed"
        assert Transaction.objects.get(external_id="PAY000003").status == "failed"
        assert not Transaction.objects.filter(external_id="PAY000002").exists()
        # Revenue by service works on imported data.
        revenue = dict(TransactionLineItem.objects.values_list("service__name").annotate(total=Sum("amount")))
        assert revenue == {"Balayage": 15000, "Trim": 4000}
    state = reload(connection)
    assert state.status == "active" and state.last_sync_at is not None
    assert state.cursors["customers"].get("updated_since") and not state.cursors["customers"].get("cursor")


@responses.activate
def test_resync_with_no_changes_creates_and_updates_nothing(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    pages = customers_pages(150)
    orders = {"ORD1": fakes.square_order("ORD1", [("Balayage", "VAR_BALAYAGE_SHORT", 15000)])}
    payments = [[fakes.square_payment(1, customer_id="SQCUST000001", order_id="ORD1")]]
    # The incremental search returns everything again (as an overlap would): all unchanged.
    fakes.stub_square(
        responses.mock,
        customer_pages=pages,
        search_pages=pages,
        catalog=fakes.square_catalog(),
        payment_pages=payments,
        orders=orders,
    )
    first = sync(tenant, connection)
    assert first.status == "succeeded"

    second = sync(tenant, connection)

    assert second.status == "succeeded", second.failure_reason
    search_calls = [c for c in responses.calls if c.request.url.endswith("/v2/customers/search")]
    assert search_calls, "the second run is incremental (updated since the first run)"
    since = json.loads(search_calls[0].request.body)["query"]["filter"]["updated_at"]["start_at"]
    assert since < reload(connection).cursors["customers"]["updated_since"]
    for resource in ("customers", "catalog", "payments"):
        counts = resource_counts(second, resource)
        assert counts["created"] == 0 and counts["updated"] == 0 and counts["failed"] == 0, (resource, counts)
        assert counts["unchanged"] > 0
    assert resource_counts(second, "customers")["unchanged"] == 150


@responses.activate
def test_a_bad_optional_field_is_dropped_and_only_an_unidentifiable_record_fails(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    page = [
        fakes.square_customer(1),
        fakes.square_customer(2, email_address="not-an-email"),
        fakes.square_customer(3, birthday="1899-07-04"),
        fakes.square_customer(4, phone_number="555-1234"),
        {"given_name": "No id"},
        fakes.square_customer(5, given_name="", family_name="", email_address="nope", phone_number="12"),
    ]
    fakes.stub_square(responses.mock, customer_pages=[page], search_pages=[page])

    job = sync(tenant, connection)

    assert job.status == "succeeded"
    assert resource_counts(job, "customers") == {
        "fetched": 6,
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "failed": 2,
        "skipped": 0,
        "fields_dropped": 3,
    }
    dropped = {e["external_id"]: (e["field"], e["reason"]) for e in job.errors if e.get("kind") == "field_dropped"}
    assert dropped["SQCUST000002"][0] == "email" and "not-an-email" in dropped["SQCUST000002"][1]
    assert dropped["SQCUST000003"][0] == "birthday" and "before 1900" in dropped["SQCUST000003"][1]
    assert dropped["SQCUST000004"] == ("phone", "'555-1234' is not a valid phone number")
    failed = {e["external_id"]: e["reason"] for e in job.errors if "kind" not in e}
    assert failed[""] == "customer has no id"
    assert failed["SQCUST000005"].startswith("nothing identifies the person")
    with in_tenant(tenant):
        by_id = {c.external_ids.get().external_id: c for c in Client.objects.all()}
        assert set(by_id) == {"SQCUST000001", "SQCUST000002", "SQCUST000003", "SQCUST000004"}
        # Imported without (only) the field that could not be read.
        assert (by_id["SQCUST000002"].first_name, by_id["SQCUST000002"].email) == ("Given2", "")
        assert by_id["SQCUST000002"].phone == "+14152000002"
        assert (by_id["SQCUST000003"].email, by_id["SQCUST000003"].birthday_month) == ("person3@example.com", None)
        assert (by_id["SQCUST000004"].phone, by_id["SQCUST000004"].birthday_month) == ("", 5)

    again = sync(tenant, connection)  # the same records, unchanged: the drops are reported again, nothing written

    counts = resource_counts(again, "customers")
    assert (counts["created"], counts["updated"], counts["failed"], counts["fields_dropped"]) == (0, 0, 2, 3)


@responses.activate
def test_hubspot_unreadable_birthday_is_dropped_not_the_contact(world):
    tenant = world.tenant_a
    connection = connect(tenant, "hubspot", config={"birthday_property": "date_of_birth"})
    fakes.stub_hubspot(responses.mock, [[fakes.hubspot_contact(1, date_of_birth="09/15/1990")]])

    job = sync(tenant, connection)

    assert resource_counts(job, "contacts")["created"] == 1 and resource_counts(job, "contacts")["fields_dropped"] == 1
    assert [(e["external_id"], e["field"]) for e in job.errors] == [("501", "birthday")]
    with in_tenant(tenant):
        contact = Client.objects.get()
        assert (contact.email, contact.birthday_month) == ("hub1@example.com", None)


@responses.activate
def test_database_refusal_of_one_record_keeps_the_rest_of_the_page(world):
    """A record the database refuses (a savepoint rolls it back) does not poison the page."""
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    fakes.stub_square(
        responses.mock,
        catalog=[
            {"type": "CATEGORY", "id": "C1", "category_data": {"name": "Color"}},
            {"type": "CATEGORY", "id": "C2", "category_data": {"name": "COLOR"}},  # same name, case-insensitive
            {"type": "CATEGORY", "id": "C3", "category_data": {"name": "Nails"}},
        ],
    )

    job = sync(tenant, connection)

    assert resource_counts(job, "catalog")["created"] == 2
    assert resource_counts(job, "catalog")["failed"] == 1
    assert job.errors[0]["external_id"] == "C2"
    with in_tenant(tenant):
        assert sorted(ServiceCategory.objects.values_list("name", flat=True)) == ["Color", "Nails"]


@responses.activate
def test_5xx_exhaustion_fails_the_job_and_the_next_run_resumes_from_the_checkpoint(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    pages = customers_pages(250)
    good = fakes.paged(pages, "customers")
    broken = {"on": True}

    def flaky(request):
        if broken["on"] and "cursor=c2" in request.url:
            return 503, {}, json.dumps({"errors": [{"category": "API_ERROR", "code": "SERVICE_UNAVAILABLE"}]})
        return good(request)

    responses.add_callback(responses.GET, f"{fakes.SQUARE}/v2/customers", callback=flaky)
    fakes.stub_square(responses.mock, customers=False)
    sleeps: list[float] = []

    failed = sync(tenant, connection, sleeps=sleeps)

    assert failed.status == "failed"
    assert "HTTP 503" in failed.failure_reason and "after 5 attempts" in failed.failure_reason
    assert len(sleeps) == 4  # bounded retries, with (injected) backoff between them
    state = reload(connection)
    assert state.status == "error" and "503" in state.last_error
    assert state.cursors["customers"]["cursor"] == "c2"  # two pages written and checkpointed
    with in_tenant(tenant):
        assert Client.objects.count() == 200

    broken["on"] = False
    responses.calls.reset()
    resumed = sync(tenant, connection)

    assert resumed.status == "succeeded", resumed.failure_reason
    first_call = next(c for c in responses.calls if urlparse(c.request.url).path == "/v2/customers")
    assert parse_qs(urlparse(first_call.request.url).query)["cursor"] == ["c2"]
    assert resource_counts(resumed, "customers")["created"] == 50
    with in_tenant(tenant):
        assert Client.objects.count() == 250
    assert reload(connection).status == "active"


@responses.activate
def test_429_backs_off_and_continues(world):
    tenant = world.tenant_a
    connection = connect(tenant, "hubspot")
    good = fakes.hubspot_contact(1)
    responses.add(
        responses.GET,
        f"{fakes.HUBSPOT}/crm/v3/objects/contacts",
        status=429,
        json={"status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"},
        headers={"Retry-After": "3"},
    )
    responses.add(
        responses.GET, f"{fakes.HUBSPOT}/crm/v3/objects/contacts", status=429, json={"errorType": "RATE_LIMIT"}
    )
    responses.add(responses.GET, f"{fakes.HUBSPOT}/crm/v3/objects/contacts", json={"results": [good]})
    sleeps: list[float] = []

    job = sync(tenant, connection, sleeps=sleeps)

    assert job.status == "succeeded"
    assert sleeps[0] == 3.0  # Retry-After honoured
    assert 0 < sleeps[1] <= 2.0  # else exponential backoff with jitter (attempt 2: up to 2s)
    assert resource_counts(job, "contacts")["created"] == 1


@responses.activate
def test_401_marks_the_connection_needs_reauth_and_stops(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square", config={"merchant_id": "M-A"})  # verified: no merchant check
    responses.add(
        responses.GET,
        f"{fakes.SQUARE}/v2/customers",
        status=401,
        json={"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED"}]},
    )

    job = sync(tenant, connection)

    assert job.status == "failed" and "401" in job.failure_reason
    assert reload(connection).status == "needs_reauth"
    assert len(responses.calls) == 1  # no retry, nothing else fetched


@responses.activate
def test_square_token_is_refreshed_before_expiry_and_persisted(world, settings):
    settings.SQUARE_APPLICATION_ID = "sq0idp-app"
    settings.SQUARE_APPLICATION_SECRET = "sq0csp-secret"
    tenant = world.tenant_a
    connection = connect(
        tenant,
        "square",
        credentials={
            "access_token": "old-access",
            "refresh_token": "old-refresh",
            "expires_at": "2000-01-01T00:00:00Z",
        },
    )
    responses.add(
        responses.POST,
        f"{fakes.SQUARE}/oauth2/token",
        json={
            "access_token": "new-access",
            "token_type": "bearer",
            "expires_at": "2099-02-01T00:00:00Z",
            "merchant_id": "MERCHANT-NEW",
            "refresh_token": "new-refresh",
        },
    )
    fakes.stub_square(responses.mock, customer_pages=[[fakes.square_customer(1)]])

    job = sync(tenant, connection)

    assert job.status == "succeeded", job.failure_reason
    refresh = json.loads(responses.calls[0].request.body)
    assert refresh == {
        "client_id": "sq0idp-app",
        "client_secret": "sq0csp-secret",
        "grant_type": "refresh_token",
        "refresh_token": "old-refresh",
    }
    assert responses.calls[1].request.headers["Authorization"] == "Bearer new-access"
    stored = reload(connection).credentials
    assert stored["access_token"] == "new-access" and stored["refresh_token"] == "new-refresh"
    assert stored["expires_at"] == "2099-02-01T00:00:00Z"
    assert ConnectionRoute.objects.filter(
        kind="square_merchant", lookup="MERCHANT-NEW", connection_id=connection.id
    ).exists()
    assert reload(connection).config["merchant_id"] == "MERCHANT-NEW"  # Square's answer, kept as verified


@responses.activate
def test_a_sync_verifies_an_unverified_merchant_with_the_connections_token(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    fakes.stub_square(responses.mock, merchant_id="MLSQ-SYNCED")

    assert sync(tenant, connection).status == "succeeded"

    me = [c for c in responses.calls if urlparse(c.request.url).path == "/v2/merchants/me"]
    assert len(me) == 1 and me[0].request.headers["Authorization"] == "Bearer sq-token-1"
    assert reload(connection).config["merchant_id"] == "MLSQ-SYNCED"
    assert ConnectionRoute.objects.filter(
        kind="square_merchant", lookup="MLSQ-SYNCED", connection_id=connection.id
    ).exists()
    responses.calls.reset()
    sync(tenant, connection)
    assert not [c for c in responses.calls if urlparse(c.request.url).path == "/v2/merchants/me"]  # verified once


@responses.activate
def test_square_merchant_lookup_without_an_id_is_a_provider_error():
    responses.add(responses.GET, f"{fakes.SQUARE}/v2/merchants/me", json={"errors": []})
    with pytest.raises(ProviderError, match="without a merchant id"):
        SquareClient({"access_token": "t"}, policy=no_wait_policy()).retrieve_merchant()
    responses.replace(responses.GET, f"{fakes.SQUARE}/v2/merchants/me", json={"merchant": fakes.square_merchant("ML1")})
    assert SquareClient({"access_token": "t"}, policy=no_wait_policy()).retrieve_merchant()["id"] == "ML1"


@responses.activate
def test_square_and_acuity_produce_one_client_for_one_person(world):
    tenant = world.tenant_a
    square, acuity = connect(tenant, "square"), connect(tenant, "acuity", config={"history_start": "2024-04-01"})
    fakes.stub_square(responses.mock, customer_pages=[[fakes.square_customer(1, phone_number="")]])
    # Acuity knows the same person by a differently written email and a phone number.
    fakes.stub_acuity(
        responses.mock,
        [
            fakes.acuity_appointment(
                1, email=" Person1@Example.COM ", phone="(415) 555-0199", firstName="Someone", lastName="Else"
            )
        ],
    )

    assert sync(tenant, square).status == "succeeded"
    job = sync(tenant, acuity)

    assert job.status == "succeeded", job.failure_reason
    with in_tenant(tenant):
        assert Client.objects.count() == 1
        person = Client.objects.get()
        appointment = Appointment.objects.get(source="acuity")
        assert appointment.client == person
        # Square created the person, so its name stays; Acuity filled the missing phone.
        assert (person.first_name, person.phone) == ("Given1", "+14155550199")


@responses.activate
def test_acuity_windows_exact_prices_statuses_and_resync(world):
    tenant = world.tenant_a
    connection = connect(tenant, "acuity", config={"history_start": "2024-01-01", "window_days": 30})
    appointments = [
        fakes.acuity_appointment(1, datetime="2024-01-03T09:00:00-0800", price="85.50"),
        fakes.acuity_appointment(2, datetime="2024-03-15T09:00:00-0700", price="120", email="two@example.com"),
        fakes.acuity_appointment(3, datetime="2024-03-16T09:00:00-0700", price="19.999", email="three@example.com"),
        fakes.acuity_appointment(4, datetime="2024-06-01T12:00:00-0700", canceled=True, email="four@example.com"),
        fakes.acuity_appointment(
            5, datetime="2024-06-02T12:00:00-0700", email="", phone="", firstName="Walk", lastName="In"
        ),
    ]
    fakes.stub_acuity(responses.mock, appointments)

    job = sync(tenant, connection)

    assert job.status == "succeeded", job.failure_reason
    counts = resource_counts(job, "appointments")
    assert (counts["created"], counts["failed"]) == (4, 1)
    assert "more decimals than USD allows" in job.errors[0]["reason"] and job.errors[0]["external_id"] == "1003"
    with in_tenant(tenant):
        by_id = {a.external_id: a for a in Appointment.objects.filter(source="acuity")}
        assert by_id["1001"].price_amount == 8550 and by_id["1002"].price_amount == 12000
        assert by_id["1001"].status == "completed" and by_id["1004"].status == "canceled"
        assert by_id["1005"].client is None  # no email or phone: never guessed by name
        assert by_id["1001"].service.name == "Color consult"
        assert by_id["1001"].start_at.isoformat() == "2024-01-03T17:00:00+00:00"
    windows = [parse_qs(urlparse(c.request.url).query) for c in responses.calls]
    assert windows[0]["minDate"] == ["2024-01-01"] and windows[0]["maxDate"] == ["2024-01-30"]
    assert reload(connection).cursors["appointments"].keys() == {"done_through"}

    again = sync(tenant, connection)

    counts = resource_counts(again, "appointments")
    assert counts["created"] == 0 and counts["updated"] == 0


@responses.activate
def test_hubspot_contacts_page_to_the_end_with_a_configurable_birthday(world):
    tenant = world.tenant_a
    connection = connect(tenant, "hubspot", config={"birthday_property": "date_of_birth"})
    fakes.stub_hubspot(
        responses.mock,
        [
            [fakes.hubspot_contact(1), fakes.hubspot_contact(2, hs_email_optout="true")],
            [fakes.hubspot_contact(3, date_of_birth=None), {**fakes.hubspot_contact(4), "archived": True}],
        ],
    )

    job = sync(tenant, connection)

    assert job.status == "succeeded", job.failure_reason
    assert resource_counts(job, "contacts") == {
        "fetched": 4,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
        "skipped": 1,
    }
    with in_tenant(tenant):
        first = Client.objects.get(email="hub1@example.com")
        assert (first.birthday_month, first.birthday_day, first.birth_year) == (2, 29, 1988)
        assert first.email_consent and not Client.objects.get(email="hub2@example.com").email_consent
    requested = parse_qs(urlparse(responses.calls[0].request.url).query)["properties"][0]
    assert "date_of_birth" in requested.split(",")

    again = sync(tenant, connection)

    assert resource_counts(again, "contacts")["unchanged"] == 3
    assert resource_counts(again, "contacts")["created"] == resource_counts(again, "contacts")["updated"] == 0


@responses.activate
def test_a_sync_writes_only_into_its_own_tenant(world):
    a, b = world.tenant_a, world.tenant_b
    connection = connect(a, "square")
    connect(b, "square", config={"merchant_id": "M-B"})
    fakes.stub_square(responses.mock, customer_pages=[[fakes.square_customer(1)]])

    sync(a, connection)

    with in_tenant(b):
        assert Client.objects.count() == 0
        assert IntegrationConnection.objects.get().cursors == {}
