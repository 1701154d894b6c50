"""A client's erasure and export (issue 27), proven by scanning the whole database.

The scans connect as the database owner (the `owner` alias, which sees every row: RLS does
not hide rows from it when it is a superuser, and a positive scan before the erasure proves
it sees them) and search every text, varchar and JSON column of every table, found in
information_schema, for the erased person's e-mail, phone digits and names.
"""

from __future__ import annotations

import datetime
import uuid

import pytest
import responses
from django.db import connections
from django.utils import timezone

from analytics.models import Appointment, Refund, Transaction, TransactionLineItem
from campaigns.models import Channel, MessageDraft
from clients import erasure, services
from clients.models import Client, ConsentEvent, Suppression
from clients.normalize import contact_hash
from clients.tasks import client_import_csv_task
from clients.tests.factories import ClientExternalIdFactory
from conftest import build_full_world
from integrations.models import IntegrationConnection, WebhookEvent
from integrations.tests import fakes
from integrations.tests.helpers import sync
from tenants.context import tenant_context
from tenants.models import BackgroundJob, ChangeRecord

FIRST, LAST = "Zephyrine", "Quillfeather"
PHONE = "+14155550177"
PHONE_DIGITS = "4155550177"


def _email() -> str:
    return f"zephyrine.q.{uuid.uuid4().hex[:8]}@example.org"


def scan(needles: list[str]) -> dict[str, list[str]]:
    """{needle: ["table.column", ...]} for every text/varchar/json/jsonb column of every table
    of the database (all schemas but the system ones) holding the needle, case-insensitively."""
    found: dict[str, list[str]] = {n: [] for n in needles}
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE t.table_type = 'BASE TABLE'
              AND c.table_schema NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'character')
            ORDER BY 1, 2, 3
            """
        )
        columns = cursor.fetchall()
        assert len(columns) > 50, columns  # the scan reads the whole schema, not a hand list
        for schema, table, column in columns:
            for needle in needles:
                cursor.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" WHERE strpos(lower("{column}"::text), lower(%s)) > 0',
                    [needle],
                )
                if cursor.fetchone()[0]:
                    found[needle].append(f"{table}.{column}")
    return found


def person_everywhere(tenant, owner, email: str) -> Client:
    """A client named in every kind of row the tenant keeps: tags, ids, consent, appointments,
    a sale with a line item and a refund, a draft, an import job (file name and a dropped
    field's reason), a pending upload, a webhook event."""
    with tenant_context(tenant.id, role="owner_admin"):
        client = services.client_create(
            tenant=tenant,
            data={
                "first_name": FIRST,
                "last_name": LAST,
                "email": email.upper(),
                "phone": "(415) 555-0177",
                "notes": f"{FIRST} prefers mornings",
                "email_consent": True,
                "sms_consent": True,
            },
            acting_user=owner,
        )
        services.client_tag_add(tenant=tenant, client_id=client.id, name="Regular", acting_user=owner)
        ClientExternalIdFactory(tenant=tenant, client=client, provider="square", external_id="SQ-ZQ-1")
        now = timezone.now()
        Appointment.objects.create(
            tenant=tenant,
            client=client,
            staff_name="Sam",
            start_at=now,
            end_at=now + datetime.timedelta(hours=1),
            price_amount=5000,
            currency="USD",
        )
        sale = Transaction.objects.create(
            tenant=tenant, client=client, occurred_at=now, total_amount=5000, refunded_amount=500, currency="USD"
        )
        TransactionLineItem.objects.create(
            tenant=tenant, transaction=sale, description=f"Gift card for {FIRST} {LAST}", amount=5000
        )
        Refund.objects.create(tenant=tenant, transaction=sale, amount=500, currency="USD", refunded_at=now)
        MessageDraft.objects.create(
            tenant=tenant,
            client=client,
            channel=Channel.EMAIL,
            occasion_date=datetime.date(2026, 7, 14),
            body=f"Happy birthday, {FIRST}!",
            recipient=email,
            generator="template",
        )
        BackgroundJob.objects.create(
            tenant=tenant,
            kind="integrations.sync.hubspot",
            status="succeeded",
            params={"filename": f"{FIRST} {LAST} contacts.csv"},
            errors=[
                {
                    "kind": "field_dropped",
                    "field": "phone",
                    "reason": f"{FIRST} {LAST}: '{PHONE_DIGITS}' is not a valid phone number.",
                }
            ],
            result={"last": email},
        )
        WebhookEvent.objects.create(
            tenant=tenant,
            provider="square",
            event_id=f"evt-{uuid.uuid4()}",
            event_type="customer.updated",
            outcome=f"updated {email}",
        )
    return client


@pytest.mark.citus
def test_an_erased_client_is_found_nowhere_in_the_database(committed):
    world = build_full_world()
    email = _email()
    client = person_everywhere(world.tenant_a, world.owner_a, email)
    needles = [email, PHONE_DIGITS, FIRST, LAST]

    before = scan(needles)
    # The scan sees the rows (a positive control: an owner that RLS filtered would see none).
    assert "clients_client.email" in before[email]
    assert {"tenants_backgroundjob.params", "tenants_backgroundjob.errors"} <= set(before[FIRST])
    assert "integrations_webhookevent.outcome" in before[email]
    assert "campaigns_messagedraft.recipient" in before[email]
    assert "analytics_transactionlineitem.description" in before[LAST]
    assert "clients_client.phone" in before[PHONE_DIGITS]

    with tenant_context(world.tenant_a.id, role="owner_admin"):
        result = erasure.client_erase(tenant=world.tenant_a, client_id=client.id, acting_user=world.owner_a)
    assert result.suppressed == ["email", "phone"]
    assert result.unlinked == {"analytics_appointment": 1, "analytics_transaction": 1}
    assert result.redacted.keys() >= {
        "tenants_backgroundjob",
        "integrations_webhookevent",
        "analytics_transactionlineitem",
    }

    after = scan(needles)
    assert after == {n: [] for n in needles}, after

    with tenant_context(world.tenant_a.id, role="owner_admin"):
        # The books stay, without the person.
        sale = Transaction.objects.get(total_amount=5000, refunded_amount=500)
        assert sale.client_id is None and sale.refunds.count() == 1
        assert Appointment.objects.filter(price_amount=5000, client__isnull=True).count() == 1
        line = TransactionLineItem.objects.get(transaction=sale)
        assert line.description == "Gift card for [erased]"
        job = BackgroundJob.objects.get(kind="integrations.sync.hubspot")
        assert job.params == {"filename": "[erased] contacts.csv"}
        assert job.errors[0]["reason"] == "[erased]: '[erased]' is not a valid phone number."
        # Only keyed hashes remain: not the plain SHA-256 the client rows use to match.
        digests = set(Suppression.objects.values_list("digest", flat=True))
        assert len(digests) == 3 and contact_hash(email) not in digests  # the world had one
        # The erasure is in the change log, naming nothing but the id.
        record = ChangeRecord.objects.get(action="client.erased")
        assert (record.object_id, record.fields) == (str(client.id), [])
        # Tenant B's client of the same world is untouched.
    with tenant_context(world.tenant_b.id, role="owner_admin"):
        assert Client.objects.filter(id=world.data["b"]["clients"]["client_id"]).exists()


def _erased(world, email: str) -> Client:
    client = person_everywhere(world.tenant_a, world.owner_a, email)
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        erasure.client_erase(tenant=world.tenant_a, client_id=client.id, acting_user=world.owner_a)
    return client


def _grants(tenant, client_id) -> list[ConsentEvent]:
    with tenant_context(tenant.id, role="system"):
        return list(ConsentEvent.objects.filter(client_id=client_id, granted=True))


def test_a_csv_with_the_erased_address_brings_the_person_back_without_consent(full_world):
    world = full_world
    email = _email()
    _erased(world, email)
    csv = f"First Name,Last Name,Email,Phone,Email Consent,SMS Consent\n{FIRST},{LAST},{email},{PHONE},yes,yes\n"
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        job = services.client_import_csv_start(tenant=world.tenant_a, data=csv.encode(), filename="old.csv")
    client_import_csv_task.run(str(world.tenant_a.id), str(job.id))
    with tenant_context(world.tenant_a.id, role="system"):
        back = Client.objects.get(email=email)
        assert job.id and BackgroundJob.objects.get(id=job.id).counts["created"] == 1
    assert (back.email_consent, back.sms_consent) == (False, False)
    assert _grants(world.tenant_a, back.id) == []

    # The same import for someone who was never erased grants consent (the check is specific).
    other = f"First Name,Email,Email Consent\nOlga,olga.{uuid.uuid4().hex[:6]}@example.org,yes\n"
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        job = services.client_import_csv_start(tenant=world.tenant_a, data=other.encode(), filename="o.csv")
    client_import_csv_task.run(str(world.tenant_a.id), str(job.id))
    with tenant_context(world.tenant_a.id, role="system"):
        assert Client.objects.get(first_name="Olga").email_consent is True


@responses.activate
def test_a_square_sync_with_the_erased_address_brings_the_person_back_without_consent(full_world):
    world = full_world
    email = _email()
    _erased(world, email)
    with tenant_context(world.tenant_a.id, role="system"):  # the world's own Square connection
        connection = IntegrationConnection.objects.get(provider="square")
    customer = fakes.square_customer(
        1, given_name=FIRST, family_name=LAST, email_address=email, phone_number=PHONE, id="SQ-NEW-1"
    )
    never_erased = fakes.square_customer(2, email_address=f"p2.{uuid.uuid4().hex[:6]}@example.org")
    # The world's connection has synced before: customers come from the incremental search.
    page = [customer, never_erased]
    fakes.stub_square(responses.mock, customer_pages=[page], search_pages=[page])

    job = sync(world.tenant_a, connection)

    assert job.status == "succeeded", job.failure_reason
    assert job.counts.get("customers.created") == 2, (job.counts, job.errors)
    with tenant_context(world.tenant_a.id, role="system"):
        back = Client.objects.get(email=email)
        assert back.source == "square" and back.email_consent is False
        assert Client.objects.get(email=never_erased["email_address"]).email_consent is True
    assert _grants(world.tenant_a, back.id) == []


def test_an_app_user_may_still_record_the_persons_own_new_consent(full_world):
    """Suppression binds imports; a person who comes back and says yes to the salon (a user
    of the app records it) is an explicit decision."""
    world = full_world
    email = _email()
    _erased(world, email)
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        client = services.client_create(
            tenant=world.tenant_a, data={"email": email, "email_consent": True}, acting_user=world.owner_a
        )
        assert client.email_consent is True


# --- the API -----------------------------------------------------------------------------


def url(client_id, what: str) -> str:
    return f"/api/v1/clients/{client_id}/{what}/"


def test_erase_needs_the_owner_and_the_confirmation(full_world):
    world = full_world
    client_id = world.data["a"]["clients"]["client_id"]
    staff = world.client(world.staff_a, world.tenant_a)
    assert staff.post(url(client_id, "erase"), {"confirm": str(client_id)}, format="json").status_code == 403
    wrong = world.a.post(url(client_id, "erase"), {"confirm": str(uuid.uuid4())}, format="json")
    assert wrong.status_code == 400 and wrong.json()["code"] == "confirmation_mismatch"
    missing = world.a.post(url(client_id, "erase"), {}, format="json")
    assert missing.status_code == 400
    # Tenant B's owner, naming A's client with the right confirmation: not found, nothing done.
    foreign = world.b.post(url(client_id, "erase"), {"confirm": str(client_id)}, format="json")
    assert foreign.status_code == 404
    with tenant_context(world.tenant_a.id, role="system"):
        assert Client.objects.filter(id=client_id).exists()

    done = world.a.post(url(client_id, "erase"), {"confirm": str(client_id).upper()}, format="json")
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["client_id"] == str(client_id) and body["suppressed"] == ["email", "phone"]
    assert body["deleted"] == {"clients_clientexternalid": 1, "clients_clienttag": 1}
    with tenant_context(world.tenant_a.id, role="system"):
        assert not Client.objects.filter(id=client_id).exists()
        assert Suppression.objects.count() == 3  # the world had one
    assert world.a.post(url(client_id, "erase"), {"confirm": str(client_id)}, format="json").status_code == 404


def test_export_holds_everything_about_the_client_and_is_audited(full_world):
    world = full_world
    email = _email()
    client = person_everywhere(world.tenant_a, world.owner_a, email)
    staff = world.client(world.staff_a, world.tenant_a)
    assert staff.get(url(client.id, "export")).status_code == 403
    assert world.b.get(url(client.id, "export")).status_code == 404

    response = world.a.get(url(client.id, "export"))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="client-{client.id}.json"'
    document = response.json()
    assert document["format"] == "brandvx.client_export" and document["version"] == 1
    assert document["client"]["email"] == email and document["client"]["first_name"] == FIRST
    assert document["tags"] == ["Regular"]
    assert {(e["channel"], e["granted"]) for e in document["consent_events"]} == {("email", True), ("sms", True)}
    assert [a["price_amount"] for a in document["appointments"]] == [5000]
    (sale,) = document["transactions"]
    assert [r["amount"] for r in sale["refunds"]] == [500]
    assert [li["description"] for li in sale["line_items"]] == [f"Gift card for {FIRST} {LAST}"]
    assert [d["recipient"] for d in document["message_drafts"]] == [email]
    assert [x["external_id"] for x in document["external_ids"]] == ["SQ-ZQ-1"]
    assert {r["action"] for r in document["change_records"]} == {"client.created", "client.tag_added"}
    # Nothing of another client.
    assert world.data["a"]["clients"]["secret"] not in response.content.decode()
    with tenant_context(world.tenant_a.id, role="system"):
        record = ChangeRecord.objects.get(action="client.exported")
        assert record.object_id == str(client.id) and record.actor_user_id == world.owner_a.id


def test_single_names_are_erased_from_free_text_only_not_from_the_businesss_named_things(full_world):
    """A client called Rose: a stylist called Rose keeps her appointments' staff name and the
    "Rose gold toner" service keeps its name; a job's error about Rose is erased."""
    from analytics.models import Service

    world = full_world
    tenant = world.tenant_a
    with tenant_context(tenant.id, role="owner_admin"):
        rose = services.client_create(tenant=tenant, data={"first_name": "Rose", "last_name": "Tarn"})
        other = services.client_create(tenant=tenant, data={"first_name": "Ivy"})
        now = timezone.now()
        Appointment.objects.create(
            tenant=tenant, client=other, staff_name="Rose", start_at=now, end_at=now, price_amount=0, currency="USD"
        )
        Service.objects.create(tenant=tenant, name="Rose gold toner", price_amount=100, currency="USD")
        BackgroundJob.objects.create(tenant=tenant, kind="test.rose", errors=[{"reason": "Rose: no phone"}])
        erasure.client_erase(tenant=tenant, client_id=rose.id)
        assert Appointment.objects.get(client=other).staff_name == "Rose"
        assert Service.objects.filter(name="Rose gold toner").exists()
        assert BackgroundJob.objects.get(kind="test.rose").errors == [{"reason": "[erased]: no phone"}]


def test_a_client_with_nothing_to_search_for_changes_no_other_row(full_world):
    world = full_world
    tenant = world.tenant_a
    with tenant_context(tenant.id, role="owner_admin"):
        nameless = Client.objects.create(tenant=tenant, notes="walk-in")
        jobs_before = list(BackgroundJob.objects.order_by("id").values_list("params", "errors"))
        result = erasure.client_erase(tenant=tenant, client_id=nameless.id)
        assert result.redacted == {} and result.suppressed == []
        assert list(BackgroundJob.objects.order_by("id").values_list("params", "errors")) == jobs_before
