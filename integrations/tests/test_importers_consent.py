"""Provider imports and the consent ledger: an unsubscribe is a withdrawal that no later
merge, re-import or provider "not unsubscribed" undoes; the custom CRM push follows the same rule."""

from __future__ import annotations

import datetime

import pytest

from clients import services as client_services
from clients.models import Client, ConsentEvent
from clients.tests.factories import ClientFactory
from integrations.importers.base import ClientImporter, PageCounts, import_page
from integrations.importers.square import contact_from_square
from integrations.tests import fakes
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db

OLDER = datetime.datetime(2024, 1, 10, 9, tzinfo=datetime.UTC)


def square_import(tenant, *customers) -> PageCounts:
    importer = ClientImporter(
        tenant=tenant,
        provider="square",
        to_contact=lambda raw: contact_from_square(raw, region=tenant.country),
    )
    with tenant_context(tenant.id, role="system"):
        return import_page(importer, list(customers), resource="customers")


def only_client(tenant, **filters) -> Client:
    with tenant_context(tenant.id, role="system"):
        return Client.objects.get(**filters)


@pytest.mark.parametrize("kept", ["square_client", "duplicate"])
def test_a_merge_after_a_provider_unsubscribe_keeps_the_client_opted_out(world, kept):
    """The issue's case: Square says the person unsubscribed; a duplicate made earlier, with
    an older opt-in, is merged with the client (either way round): still opted out."""
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        duplicate = ClientFactory(
            tenant=t, first_name="Ana", email="ana.old@example.com", email_consent=True, email_consent_at=OLDER
        )
    subscribed = fakes.square_customer(1, email_address="ana@example.com")
    assert square_import(t, subscribed).created == 1
    square_client = only_client(t, email="ana@example.com")
    assert square_client.email_consent

    counts = square_import(t, {**subscribed, "preferences": {"email_unsubscribed": True}, "version": 2})

    assert counts.updated == 1
    square_client = only_client(t, id=square_client.id)
    assert not square_client.email_consent and square_client.email_consent_at is not None
    source, target = (duplicate, square_client) if kept == "square_client" else (square_client, duplicate)
    with tenant_context(t.id, role="staff"):
        client_services.client_merge(tenant=t, source_id=source.id, target_id=target.id)
    merged = only_client(t, id=target.id)
    assert not merged.email_consent, "the duplicate's older opt-in undid the unsubscribe"
    # The provider still reports the unsubscribe, or later says "not unsubscribed": neither
    # changes anything (an import never re-grants after a withdrawal).
    square_import(t, {**subscribed, "preferences": {"email_unsubscribed": False}, "version": 3})
    assert not only_client(t, id=target.id).email_consent


def test_an_unsubscribe_is_recorded_once_with_its_origin(world):
    t = world.tenant_a
    customer = fakes.square_customer(2, preferences={"email_unsubscribed": True})
    square_import(t, customer)
    assert square_import(t, {**customer, "version": 2}).unchanged == 1
    client = only_client(t, email=customer["email_address"])
    with tenant_context(t.id, role="system"):
        events = list(
            ConsentEvent.objects.filter(client_id=client.id).values_list("channel", "granted", "origin", "provider")
        )
    assert events == [("email", False, "provider_import", "square")]
    assert not client.email_consent and client.email_consent_at is not None


def test_a_provider_grant_fills_only_an_undecided_client_and_never_a_withdrawn_one(world):
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        undecided = ClientFactory(tenant=t, email="person3@example.com")
        withdrawn = ClientFactory(tenant=t, email="person4@example.com", email_consent=False, email_consent_at=OLDER)

    square_import(t, fakes.square_customer(3), fakes.square_customer(4))

    assert only_client(t, id=undecided.id).email_consent
    assert not only_client(t, id=withdrawn.id).email_consent


def test_the_custom_crm_push_uses_the_same_upsert_and_consent_rule(world):
    from integrations.inbound import custom_crm_import
    from integrations.tests.helpers import connect

    t = world.tenant_a
    connection = connect(t, "custom_crm")
    with tenant_context(t.id, role="staff"):
        ClientFactory(tenant=t, first_name="Bo", email="bo@example.com", email_consent=False, email_consent_at=OLDER)
    payload = {
        "contacts": [
            {"external_id": "crm-1", "email": "BO@example.com ", "first_name": "Robert", "email_consent": True},
            {"external_id": "crm-2", "email": "cy@example.com", "email_consent": True},
        ]
    }

    result = custom_crm_import(tenant_id=t.id, connection_id=connection.id, payload=payload)

    assert (result["contacts"]["created"], result["contacts"]["updated"]) == (1, 1), result
    bo = only_client(t, email="bo@example.com")  # matched by the normalized email, linked, not duplicated
    assert bo.first_name == "Bo", "another source only fills blanks"
    assert not bo.email_consent, "an import never undoes a withdrawal"
    assert only_client(t, email="cy@example.com").email_consent
    with tenant_context(t.id, role="system"):
        assert Client.objects.count() == 2
