"""The set-based CSV import (services.client_upsert_many) decides exactly what the row-by-row
path (services.client_upsert per row, in its own savepoint) decides: the same outcomes, errors,
clients, consent ledger, tags, external ids and change records, on files full of duplicates
(within the file and against existing clients) and consent decisions."""

import datetime
from unittest import mock

import pytest
from django.db import IntegrityError, connection
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from clients import imports, services
from clients.models import Client, ClientExternalId, ClientTag, ConsentEvent
from clients.tasks import client_import_csv_task
from clients.tests.factories import ClientFactory
from conftest import make_tenant
from tenants.context import tenant_context
from tenants.models import BackgroundJob, ChangeRecord

pytestmark = pytest.mark.django_db

EMAILS = ["", "amy@example.com", "AMY@example.com ", "bea@example.com", "not-an-email"]
PHONES = ["", "(415) 555-0123", "+1 415 555 0123", "415.555.0199", "12"]
IDS = ["", "", "C-1", "C-2"]
CONSENTS = ["", "yes", "no"]
NAMES = ["", "Amy", "Bea", "Cy"]
BIRTHDAYS = ["", "1990-07-04", "07-04", "02-30", "2/29/2000"]
NOTES = ["", "Likes tea", "Patch test"]
TAGS = ["", "VIP", "vip; Color", "Bridal"]
HEADER = "First Name,Email,Phone,Customer ID,Email Consent,SMS Consent,Birthday,Notes,Tags\n"

rows = st.lists(
    st.tuples(*(st.sampled_from(choices) for choices in (NAMES, EMAILS, PHONES, IDS, CONSENTS, CONSENTS))).flatmap(
        lambda head: st.tuples(st.just(head), st.sampled_from(BIRTHDAYS), st.sampled_from(NOTES), st.sampled_from(TAGS))
    ),
    min_size=1,
    max_size=12,
)


def csv_of(items) -> str:
    lines = []
    for head, birthday, notes, tags in items:
        lines.append(",".join([*head, birthday, notes, f'"{tags}"']))
    return HEADER + "\n".join(lines) + "\n"


def seed(tenant):
    """Clients the file may match: by email (two with one email: the older wins), by phone,
    and one withdrawn from email by a user of the app."""
    with tenant_context(tenant.id, role="system"):
        old = ClientFactory(
            tenant=tenant, first_name="Old", last_name="", email="amy@example.com", notes="Typed in the app"
        )
        Client.objects.filter(id=old.id).update(created_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
        ClientFactory(tenant=tenant, first_name="Newer", last_name="", email="amy@example.com")
        ClientFactory(
            tenant=tenant,
            first_name="Phone",
            last_name="",
            email="",
            phone="+14155550199",
            email_consent=False,
            email_consent_at=datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC),
        )


def run(tenant, content, *, row_by_row: bool) -> BackgroundJob:
    with tenant_context(tenant.id, role="owner_admin"):
        job = services.client_import_csv_start(tenant=tenant, data=content.encode(), filename="f.csv")

    def refuse(*args, **kwargs):
        raise IntegrityError("forced: write row by row")

    with mock.patch.object(imports, "_write_set_based", refuse) if row_by_row else mock.patch.object(imports, "logger"):
        client_import_csv_task.run(str(tenant.id), str(job.id))
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.get(id=job.id)


def state(tenant) -> dict:
    """Everything the import writes, with ids replaced by the clients' first names and emails."""
    with tenant_context(tenant.id, role="system"):
        clients = {
            c.id: c
            for c in Client.objects.filter(tenant_id=tenant.id).order_by("created_at", "first_name", "email", "phone")
        }
        label = {c.id: f"{n}:{c.first_name}:{c.email}:{c.phone}" for n, c in enumerate(clients.values())}
        fields = (
            "first_name last_name email email_hash phone phone_hash phone_extension birthday_month birthday_day "
            "birth_year notes source email_consent sms_consent archived_at"
        ).split()
        return {
            "clients": [
                (
                    label[c.id],
                    *(getattr(c, f) for f in fields),
                    c.email_consent_at is not None,
                    c.sms_consent_at is not None,
                )
                for c in clients.values()
            ],
            "events": sorted(
                (label.get(e.client_id, "?"), e.channel, e.granted, e.origin, e.provider)
                for e in ConsentEvent.objects.filter(tenant_id=tenant.id)
            ),
            "tags": sorted(
                (label[link.client_id], link.tag.name.lower())
                for link in ClientTag.objects.filter(tenant_id=tenant.id).select_related("tag")
            ),
            "external_ids": sorted(
                (label[link.client_id], link.provider, link.external_id)
                for link in ClientExternalId.objects.filter(tenant_id=tenant.id)
            ),
            "changes": sorted(
                (r.action, label.get(_uuid(r.object_id), r.object_id), tuple(r.fields), r.actor_kind, r.actor_label)
                for r in ChangeRecord.objects.filter(tenant_id=tenant.id, object_type="client")
            ),
        }


def _uuid(text: str):
    import uuid

    try:
        return uuid.UUID(text)
    except ValueError:
        return text


@settings(
    max_examples=30,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(first=rows, second=rows)
def test_set_based_and_row_by_row_imports_write_the_same(db, first, second):
    """Two files in a row (the second meets what the first created) into two fresh tenants
    with the same existing clients: one imported set-based, one row by row."""
    set_based, _ = make_tenant("Set based")
    row_by_row, _ = make_tenant("Row by row")
    for tenant in (set_based, row_by_row):
        seed(tenant)
    for content in (csv_of(first), csv_of(second)):
        job_a = run(set_based, content, row_by_row=False)
        job_b = run(row_by_row, content, row_by_row=True)
        assert job_a.status == job_b.status == "succeeded"
        assert job_a.counts == job_b.counts
        assert job_a.errors == job_b.errors
    assert state(set_based) == state(row_by_row)


def test_a_batch_is_one_statement_per_table(world, settings):
    """The write side of a batch of 50 new clients (with tags, an external id and consent)
    does not grow with the rows: COPY into staging tables and one INSERT per table."""
    settings.CLIENTS_IMPORT_BATCH_ROWS = 1_000
    content = "email,id,tags,email consent\n" + "".join(f"c{i}@example.com,X-{i},VIP,yes\n" for i in range(50))
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        job = services.client_import_csv_start(tenant=world.tenant_a, data=content.encode())
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client_import_csv_task.run(str(world.tenant_a.id), str(job.id))
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT INTO")]
    tables = sorted(q.split()[2].strip('"') for q in inserts)
    # One INSERT ... SELECT per table (the tag "VIP" is created once, by its own INSERT).
    assert tables == sorted(
        [
            "clients_client",
            "clients_clientexternalid",
            "clients_clienttag",
            "clients_consentevent",
            "tenants_changerecord",
            "clients_tag",
        ]
    ), inserts
    with tenant_context(world.tenant_a.id, role="system"):
        job = BackgroundJob.objects.get(id=job.id)
        assert job.counts["created"] == 50
        assert Client.objects.filter(email_consent=True).count() == 50
        assert ClientTag.objects.count() == 50 and ClientExternalId.objects.count() == 50
        assert ChangeRecord.objects.filter(action="client.created").count() == 50
