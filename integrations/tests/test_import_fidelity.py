"""Imports that lose nothing (issue 17): duplicate provider profiles, accents, Acuity clients
and no-shows, deletions, variable prices, phone extensions. Recorded-shape payloads."""

from __future__ import annotations

import datetime
import json

import pytest
import responses

from analytics.models import Appointment, Service, Transaction
from clients.models import Client, ClientExternalId
from integrations.inbound import acuity_webhook_event_record
from integrations.models import CatalogVariation, WebhookEvent
from integrations.sync import process_acuity_appointment, process_square_event
from integrations.tests import fakes
from integrations.tests.factories import WebhookEventFactory
from integrations.tests.helpers import connect, no_wait_policy, resource_counts, sync
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


def in_tenant(tenant):
    return tenant_context(tenant.id, role="system")


def jose_profiles() -> tuple[dict, dict]:
    """Two Square profiles of one person (same email): the older one is spelled right."""
    older = fakes.square_customer(
        1,
        given_name="José",
        family_name="Núñez",
        email_address="jose@example.com",
        phone_number="",
        note="Prefers mornings",
        created_at="2023-01-05T09:00:00Z",
    )
    newer = fakes.square_customer(
        2,
        given_name="Jose",
        family_name="Nunez",
        email_address="jose@example.com",
        phone_number="+14155550177",
        note="Duplicate made at the till",
        created_at="2024-06-01T09:00:00Z",
    )
    return older, newer


@responses.activate
def test_two_square_profiles_of_one_person_have_one_owner_and_resync_reports_nothing(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    older, newer = jose_profiles()
    page = [older, newer]  # Square lists customers by created_at, oldest first
    fakes.stub_square(responses.mock, customer_pages=[page], search_pages=[page])

    first = sync(tenant, connection)

    assert first.status == "succeeded", first.failure_reason
    assert resource_counts(first, "customers") == {
        "fetched": 2,
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "failed": 0,
        "skipped": 0,
        "duplicates": 1,
    }
    [duplicate] = [e for e in first.errors if e.get("kind") == "duplicate_candidate"]
    assert (duplicate["external_id"], duplicate["owner_external_id"]) == ("SQCUST000002", "SQCUST000001")
    with in_tenant(tenant):
        jose = Client.objects.get()
        assert duplicate["client_id"] == str(jose.id)
        # The owner's text, accents and all; the duplicate only filled the blank phone.
        assert (jose.first_name, jose.last_name, jose.phone) == ("José", "Núñez", "+14155550177")
        assert jose.notes == "Prefers mornings"
        links = dict(ClientExternalId.objects.values_list("external_id", "provider_created_at"))
        assert links == {
            "SQCUST000001": datetime.datetime(2023, 1, 5, 9, tzinfo=datetime.UTC),
            "SQCUST000002": datetime.datetime(2024, 6, 1, 9, tzinfo=datetime.UTC),
        }
        updated_at = jose.updated_at

    for _ in range(2):  # the flip-flop: every no-change re-sync reported updated: 2
        again = sync(tenant, connection)
        counts = resource_counts(again, "customers")
        assert (counts["created"], counts["updated"], counts["failed"], counts["unchanged"]) == (0, 0, 0, 2), counts
        assert counts["duplicates"] == 1  # still reported as a duplicate candidate, never written
    with in_tenant(tenant):
        jose = Client.objects.get()
        assert (jose.first_name, jose.last_name, jose.updated_at) == ("José", "Núñez", updated_at)


@responses.activate
def test_the_oldest_profile_owns_whatever_order_the_profiles_arrive_in(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    older, newer = jose_profiles()
    page = [newer, older]
    fakes.stub_square(responses.mock, customer_pages=[page], search_pages=[page])

    assert sync(tenant, connection).status == "succeeded"
    again = sync(tenant, connection)

    counts = resource_counts(again, "customers")
    assert (counts["created"], counts["updated"], counts["failed"]) == (0, 0, 0)
    with in_tenant(tenant):
        jose = Client.objects.get()
        assert (jose.first_name, jose.last_name) == ("José", "Núñez")


@responses.activate
def test_profiles_linked_without_a_creation_time_get_it_without_counting_an_update(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    older, newer = jose_profiles()
    fakes.stub_square(responses.mock, customer_pages=[[older, newer]], search_pages=[[newer, older]])
    assert sync(tenant, connection).status == "succeeded"
    with in_tenant(tenant):  # as links made before creation times were kept
        ClientExternalId.objects.update(provider_created_at=None)

    again = sync(tenant, connection)

    counts = resource_counts(again, "customers")
    assert (counts["created"], counts["updated"], counts["failed"], counts["unchanged"]) == (0, 0, 0, 2), counts
    with in_tenant(tenant):
        assert ClientExternalId.objects.filter(provider_created_at__isnull=True).count() == 0
        assert Client.objects.values_list("first_name", flat=True).get() == "José"


@responses.activate
def test_accents_survive_a_provider_that_sends_json_as_text_without_a_charset(world):
    tenant = world.tenant_a
    connection = connect(tenant, "acuity", config={"history_start": "2024-04-01"})
    fakes.stub_acuity(responses.mock, [])
    responses.replace(
        responses.GET,
        f"{fakes.ACUITY}/clients",
        content_type="text/plain",
        body=json.dumps([fakes.acuity_client("José", "Núñez", "jose@example.com")], ensure_ascii=False).encode(),
    )

    job = sync(tenant, connection)

    assert job.status == "succeeded", job.failure_reason
    with in_tenant(tenant):
        assert Client.objects.values_list("first_name", "last_name").get() == ("José", "Núñez")


# --- Acuity clients and statuses ------------------------------------------------------------


@responses.activate
def test_acuity_clients_without_appointments_and_notes_are_imported_and_no_shows_kept(world):
    tenant = world.tenant_a
    connection = connect(tenant, "acuity", config={"history_start": "2024-04-01"})
    appointments = [
        fakes.acuity_appointment(1, datetime="2024-05-02T10:15:00-0700"),
        # "Cancel and mark as no-show": Acuity sends both flags.
        fakes.acuity_appointment(
            2, datetime="2024-05-03T10:15:00-0700", email="two@example.com", canceled=True, noShow=True
        ),
        fakes.acuity_appointment(3, datetime="2024-05-04T10:15:00-0700", email="three@example.com", canceled=True),
    ]
    clients = [
        fakes.acuity_client("Given1", "Doe", "person1@example.com", notes="Allergic to ammonia"),
        fakes.acuity_client("Nia", "Book", "nia@example.com", "(415) 555-0142 x12", notes="Never booked yet"),
        fakes.acuity_client("Walk", "In"),
        fakes.acuity_client("", "", phone="123"),  # nothing left once the phone is dropped
    ]
    fakes.stub_acuity(responses.mock, appointments, clients)

    job = sync(tenant, connection)

    assert job.status == "succeeded", job.failure_reason
    assert resource_counts(job, "clients") == {
        "fetched": 4,
        "created": 2,
        "updated": 1,
        "unchanged": 0,
        "failed": 1,
        "skipped": 0,
    }
    with in_tenant(tenant):
        statuses = dict(Appointment.objects.values_list("external_id", "status"))
        assert statuses == {"1001": "completed", "1002": "no_show", "1003": "canceled"}
        person1 = Client.objects.get(email="person1@example.com")
        assert person1.notes == "Allergic to ammonia" and person1.appointments.count() == 1
        nia = Client.objects.get(email="nia@example.com")
        assert (nia.first_name, nia.phone, nia.phone_extension, nia.notes) == (
            "Nia",
            "+14155550142",
            "12",
            "Never booked yet",
        )
        assert nia.appointments.count() == 0 and nia.source == "acuity"
        assert Client.objects.filter(first_name="Walk", last_name="In").count() == 1

    again = sync(tenant, connection)

    counts = resource_counts(again, "clients")
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (0, 0, 3)
    with in_tenant(tenant):
        assert Client.objects.filter(first_name="Walk").count() == 1


@responses.activate
def test_acuity_webhook_for_a_deleted_appointment_is_recorded_as_gone(world):
    connection = connect(world.tenant_a, "acuity")
    responses.add(
        responses.GET,
        f"{fakes.ACUITY}/appointments/1009",
        status=404,
        json={"status_code": 404, "message": "The appointment you requested could not be found.", "error": "not_found"},
    )

    with in_tenant(world.tenant_a):
        event = acuity_webhook_event_record(tenant_id=world.tenant_a.id, action="canceled", appointment_id="1009")

    outcome = process_acuity_appointment(
        tenant_id=world.tenant_a.id,
        connection_id=connection.id,
        appointment_id="1009",
        event_id=event.id,
        policy=no_wait_policy(),
    )

    assert outcome == "gone: the appointment no longer exists at Acuity"
    assert len(responses.calls) == 1  # a 404 is an answer, not retried
    with in_tenant(world.tenant_a):
        event.refresh_from_db()
        assert event.processed and event.outcome == outcome


# --- deletions -------------------------------------------------------------------------------


def deleted_event(tenant, customer_id: str, event_id: str = "evt-del-1") -> WebhookEvent:
    with in_tenant(tenant):
        return WebhookEventFactory.create(
            tenant=tenant, event_id=event_id, event_type="customer.deleted", object_id=customer_id
        )


@responses.activate
def test_square_customer_deleted_archives_the_client_and_keeps_its_history(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square", config={"merchant_id": "M-A"})
    today = tenant.today()
    people = [
        fakes.square_customer(1, birthday=f"0000-{today.month:02d}-{today.day:02d}"),
        fakes.square_customer(2),
    ]
    fakes.stub_square(
        responses.mock, customer_pages=[people], payment_pages=[[fakes.square_payment(1, customer_id="SQCUST000001")]]
    )
    assert sync(tenant, connection).status == "succeeded"
    event = deleted_event(tenant, "SQCUST000001")

    outcome = process_square_event(tenant_id=tenant.id, event_id=event.id, policy=no_wait_policy())

    assert outcome == "archived: customer deleted at Square"
    with in_tenant(tenant):
        gone = Client.objects.get(email="person1@example.com")
        assert gone.archived_at is not None and not gone.external_ids.exists()
        assert Transaction.objects.get(external_id="PAY000001").client == gone  # history kept
        assert WebhookEvent.objects.get(id=event.id).outcome == outcome
    listed = [c["email"] for c in world.a.get("/api/v1/clients/").json()["results"]]
    assert listed == ["person2@example.com"]
    archived = world.a.get("/api/v1/clients/", {"archived": "true"}).json()["results"]
    assert [c["email"] for c in archived] == ["person1@example.com"] and archived[0]["archived_at"]
    record = world.a.get(f"/api/v1/clients/{gone.id}/")
    assert record.status_code == 200 and record.json()["archived_at"]
    birthdays = world.a.get("/api/v1/clients/birthdays/", {"days_ahead": 0}).json()
    assert birthdays["count"] == 0  # no birthday message for a deleted customer

    # Square sends the deletion again: recorded, nothing left to do.
    assert (
        process_square_event(
            tenant_id=tenant.id, event_id=deleted_event(tenant, "SQCUST000001", "evt-del-2").id, policy=no_wait_policy()
        )
        == "not linked: customer deleted at Square"
    )


@responses.activate
def test_deleting_one_of_two_profiles_unlinks_it_and_keeps_the_client(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square", config={"merchant_id": "M-A"})
    older, newer = jose_profiles()
    fakes.stub_square(responses.mock, customer_pages=[[older, newer]])
    assert sync(tenant, connection).status == "succeeded"

    outcome = process_square_event(
        tenant_id=tenant.id, event_id=deleted_event(tenant, "SQCUST000002").id, policy=no_wait_policy()
    )

    assert outcome == "unlinked: customer deleted at Square"
    with in_tenant(tenant):
        jose = Client.objects.get()
        assert jose.archived_at is None
        assert list(jose.external_ids.values_list("external_id", flat=True)) == ["SQCUST000001"]


@responses.activate
def test_a_profile_seen_again_brings_an_archived_client_back(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square", config={"merchant_id": "M-A"})
    fakes.stub_square(responses.mock, customer_pages=[[fakes.square_customer(1)]])
    assert sync(tenant, connection).status == "succeeded"
    process_square_event(
        tenant_id=tenant.id, event_id=deleted_event(tenant, "SQCUST000001").id, policy=no_wait_policy()
    )
    responses.add(
        responses.GET,
        f"{fakes.SQUARE}/v2/customers/SQCUST000009",
        json={"customer": fakes.square_customer(9, email_address="person1@example.com")},
    )
    with in_tenant(tenant):
        event = WebhookEventFactory.create(tenant=tenant, event_type="customer.created", object_id="SQCUST000009")

    assert process_square_event(tenant_id=tenant.id, event_id=event.id, policy=no_wait_policy()) == "updated"

    with in_tenant(tenant):
        client = Client.objects.get()
        assert client.archived_at is None
        assert list(client.external_ids.values_list("external_id", flat=True)) == ["SQCUST000009"]


# --- money and phone detail ---------------------------------------------------------------------


@responses.activate
def test_variable_price_items_stay_variable_and_phone_extensions_are_kept(world):
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    catalog = [
        *fakes.square_catalog(),
        {
            "type": "ITEM",
            "id": "ITEM_CONSULT",
            "version": 1,
            "item_data": {
                "name": "Color correction",
                "product_type": "APPOINTMENTS_SERVICE",
                "variations": [
                    {
                        "type": "ITEM_VARIATION",
                        "id": "VAR_CONSULT",
                        "item_variation_data": {
                            "item_id": "ITEM_CONSULT",
                            "name": "Regular",
                            "pricing_type": "VARIABLE_PRICING",
                            "service_duration": 3600000,
                        },
                    }
                ],
            },
        },
    ]
    customers = [fakes.square_customer(1, phone_number="+1 415-555-0123 ext. 42")]
    fakes.stub_square(responses.mock, customer_pages=[customers], search_pages=[customers], catalog=catalog)

    job = sync(tenant, connection)

    assert job.status == "succeeded", job.failure_reason
    with in_tenant(tenant):
        consult = Service.objects.get(external_id="ITEM_CONSULT")
        assert (consult.price_is_variable, consult.price_amount) == (True, 0)
        trim = Service.objects.get(external_id="ITEM_TRIM")
        assert (trim.price_is_variable, trim.price_amount) == (False, 4000)
        assert CatalogVariation.objects.get(external_id="VAR_CONSULT").price_amount is None
        person = Client.objects.get()
        assert (person.phone, person.phone_extension) == ("+14155550123", "42")
    service = world.a.get(f"/api/v1/services/{consult.id}/").json()
    assert service["price_is_variable"] is True

    again = sync(tenant, connection)

    for resource in ("customers", "catalog"):
        counts = resource_counts(again, resource)
        assert (counts["created"], counts["updated"], counts["failed"]) == (0, 0, 0), (resource, counts)
