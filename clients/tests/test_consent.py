"""The consent ledger: derivation rules, append-only storage, and the API, merge and
import paths that write it."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import DatabaseError, connections, transaction

from clients import consent, services
from clients.models import Client, ConsentEvent, ConsentOrigin
from clients.rules import consent_allows
from clients.tests.factories import ClientFactory
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2025, 5, 1, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def event(granted: bool, at: datetime.datetime, origin: str = ConsentOrigin.API_USER, channel: str = "email"):
    return ConsentEvent(
        id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        channel=channel,
        granted=granted,
        decided_at=at,
        recorded_at=T0,
        origin=origin,
    )


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], (None, None)),
        ([event(True, T0)], (True, T0)),
        ([event(True, T0), event(False, T0 + DAY)], (False, T0 + DAY)),
        # An older grant (say, a merged duplicate's) never undoes a withdrawal.
        ([event(False, T0 + DAY), event(True, T0)], (False, T0 + DAY)),
        # At the same instant, the withdrawal wins.
        ([event(False, T0), event(True, T0)], (False, T0)),
        # A newer grant from an import or a provider does not undo it either...
        ([event(False, T0), event(True, T0 + DAY, ConsentOrigin.CSV_IMPORT)], (False, T0)),
        (
            [event(False, T0, ConsentOrigin.PROVIDER_IMPORT), event(True, T0 + DAY, ConsentOrigin.PROVIDER_IMPORT)],
            (False, T0),
        ),
        # ... only a newer explicit grant does.
        ([event(False, T0, ConsentOrigin.UNSUBSCRIBE_LINK), event(True, T0 + DAY)], (True, T0 + DAY)),
        # An import's grant stands where nobody withdrew.
        ([event(True, T0, ConsentOrigin.CSV_IMPORT)], (True, T0)),
        # The person's own START after their STOP is a newer explicit grant (issue 25)...
        (
            [event(False, T0, ConsentOrigin.SMS_REPLY), event(True, T0 + DAY, ConsentOrigin.SMS_REPLY)],
            (True, T0 + DAY),
        ),
        # ... and so it undoes a salon user's or a link's withdrawal too, when newer;
        (
            [event(False, T0, ConsentOrigin.UNSUBSCRIBE_LINK), event(True, T0 + DAY, ConsentOrigin.SMS_REPLY)],
            (True, T0 + DAY),
        ),
        # an older START does not undo a STOP,
        (
            [event(True, T0, ConsentOrigin.SMS_REPLY), event(False, T0 + DAY, ConsentOrigin.SMS_REPLY)],
            (False, T0 + DAY),
        ),
        # and an import's grant after a STOP, a bounce or a complaint does not either.
        ([event(False, T0, ConsentOrigin.SMS_REPLY), event(True, T0 + DAY, ConsentOrigin.CSV_IMPORT)], (False, T0)),
        (
            [event(False, T0, ConsentOrigin.PROVIDER_BOUNCE), event(True, T0 + DAY, ConsentOrigin.PROVIDER_IMPORT)],
            (False, T0),
        ),
        (
            [event(False, T0, ConsentOrigin.PROVIDER_COMPLAINT), event(True, T0 + DAY, ConsentOrigin.CSV_IMPORT)],
            (False, T0),
        ),
    ],
)
def test_derive(events, expected):
    state = consent.derive(events)["email"]
    assert (state.granted, state.at) == expected
    assert consent.derive(events)["sms"].granted is None


def test_the_runtime_role_cannot_change_or_remove_a_decision(world):
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        client = ClientFactory(tenant=t, email_consent=True)
        decision = ConsentEvent.objects.get(client_id=client.id)
        for statement in (
            "UPDATE clients_consentevent SET granted = false WHERE id = %s",
            "DELETE FROM clients_consentevent WHERE id = %s",
        ):
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                with connections["default"].cursor() as cursor:
                    cursor.execute(statement, [decision.id])
        assert ConsentEvent.objects.get(id=decision.id).granted is True


def test_deleting_a_client_keeps_its_decisions(world):
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        client = ClientFactory(tenant=t, email_consent=False, email_consent_at=T0)
        services.client_delete(tenant=t, client_id=client.id)
        assert ConsentEvent.objects.filter(client_id=client.id, granted=False).count() == 1


def test_the_api_records_a_users_decisions_and_keeps_its_response_shape(world):
    response = world.a.post(
        "/api/v1/clients/", {"first_name": "Amy", "email": "amy@example.com", "email_consent": True}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email_consent"] is True and body["email_consent_at"] is not None
    assert body["sms_consent"] is False and body["sms_consent_at"] is None
    changed = world.a.patch(f"/api/v1/clients/{body['id']}/", {"email_consent": False}, format="json")
    assert changed.status_code == 200 and changed.json()["email_consent"] is False
    assert changed.json()["email_consent_at"] >= body["email_consent_at"]
    with tenant_context(world.tenant_a.id, role="system"):
        decisions = list(
            ConsentEvent.objects.filter(client_id=body["id"])
            .order_by("decided_at")
            .values_list("channel", "granted", "origin", "acting_user_id")
        )
    assert decisions == [("email", True, "api_user", world.owner_a.id), ("email", False, "api_user", world.owner_a.id)]


def test_a_put_without_consent_records_no_decision_for_a_client_nobody_asked(world):
    created = world.a.post("/api/v1/clients/", {"first_name": "Bo"}, format="json").json()
    assert world.a.put(f"/api/v1/clients/{created['id']}/", {"first_name": "Bob"}, format="json").status_code == 200
    with tenant_context(world.tenant_a.id, role="system"):
        assert not ConsentEvent.objects.filter(client_id=created["id"]).exists()


def test_merge_keeps_a_withdrawal_over_the_duplicates_older_grant_and_copies_the_history(world):
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        target = ClientFactory(
            tenant=t, email_consent=False, email_consent_at=T0 + DAY, sms_consent=True, sms_consent_at=T0
        )
        source = ClientFactory(
            tenant=t, email_consent=True, email_consent_at=T0, sms_consent=False, sms_consent_at=T0 + 2 * DAY
        )
        services.client_merge(tenant=t, source_id=source.id, target_id=target.id)
        merged = Client.objects.get(id=target.id)
        copies = ConsentEvent.objects.filter(client_id=target.id, copied_from__isnull=False).count()
    assert (merged.email_consent, merged.email_consent_at) == (False, T0 + DAY)
    assert (merged.sms_consent, merged.sms_consent_at) == (False, T0 + 2 * DAY), "the source's later withdrawal counts"
    assert copies == 2


def test_consent_fields_are_only_what_the_ledger_derives(world):
    """consent_refresh repairs a cache written around the ledger (e.g. by a raw bulk load)."""
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        client = ClientFactory(tenant=t, email_consent=False, email_consent_at=T0)
        Client.objects.filter(id=client.id).update(email_consent=True)
        assert consent.consent_refresh(tenant=t, client_ids=[client.id]) == 1
        client.refresh_from_db()
    assert (client.email_consent, client.email_consent_at) == (False, T0)


def _sms_origins(t, client) -> list[tuple[bool, str]]:
    return list(
        ConsentEvent.objects.filter(client_id=client.id, channel="sms")
        .order_by("recorded_at", "decided_at")
        .values_list("granted", "origin")
    )


def test_a_stop_from_a_client_nobody_asked_is_recorded_and_no_import_grants_over_it(world):
    t = world.tenant_a
    with tenant_context(t.id, role="system"):
        client = ClientFactory(tenant=t, phone="+14155550177")
        assert consent.consent_state(client, "sms").granted is None
        assert consent.consent_record(tenant=t, client=client, decisions={"sms": False}, origin=ConsentOrigin.SMS_REPLY)
        client.refresh_from_db()
        assert consent.consent_state(client, "sms").granted is False
        # An import's grant is not news for a client who said STOP: nothing recorded.
        consent.consent_record(tenant=t, client=client, decisions={"sms": True}, origin=ConsentOrigin.CSV_IMPORT)
        client.refresh_from_db()
        assert client.sms_consent is False
        assert _sms_origins(t, client) == [(False, "sms_reply")]


def test_start_after_stop_grants_again_and_repeats_record_nothing(world):
    t = world.tenant_a
    with tenant_context(t.id, role="system"):
        client = ClientFactory(tenant=t, phone="+14155550178")
        for granted in (True, False, False, True, True):
            consent.consent_record(tenant=t, client=client, decisions={"sms": granted}, origin=ConsentOrigin.SMS_REPLY)
        client.refresh_from_db()
        assert client.sms_consent is True and consent_allows(client, "sms")
        assert _sms_origins(t, client) == [(True, "sms_reply"), (False, "sms_reply"), (True, "sms_reply")]


@pytest.mark.parametrize("origin", [ConsentOrigin.PROVIDER_BOUNCE, ConsentOrigin.PROVIDER_COMPLAINT])
def test_a_bounce_or_complaint_only_withdraws(world, origin):
    t = world.tenant_a
    with tenant_context(t.id, role="system"):
        client = ClientFactory(tenant=t, email_consent=True)
        assert not consent.consent_record(tenant=t, client=client, decisions={"email": True}, origin=origin)
        assert consent.consent_record(tenant=t, client=client, decisions={"email": False}, origin=origin)
        client.refresh_from_db()
        assert client.email_consent is False
        assert not consent.consent_record(tenant=t, client=client, decisions={"email": False}, origin=origin)
