"""Signed webhooks: valid, tampered, wrong URL, replayed, unknown merchant; and processing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
import responses
from rest_framework.test import APIClient

from analytics.models import Appointment
from clients.models import Client
from integrations.models import WebhookEvent
from integrations.sync import process_acuity_appointment, process_square_event
from integrations.tests import fakes
from integrations.tests.helpers import connect, no_wait_policy
from tenants.context import tenant_context

# Every test here takes `world` (the test database, in a test transaction) except the
# hostile-body ones at the end, which run committed, as a provider's request does.

KEY = "square-signature-key-123"
NOTIFY_URL = "https://api.brandvx.test/api/v1/webhooks/square/"
SQUARE_PATH = "/api/v1/webhooks/square/"


@pytest.fixture(autouse=True)
def square_webhook_settings(settings):
    settings.SQUARE_WEBHOOK_SIGNATURE_KEY = KEY
    settings.SQUARE_WEBHOOK_NOTIFICATION_URL = NOTIFY_URL


def sign(key: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def square_event(merchant: str, event_id: str = "evt-1", customer_id: str = "SQCUST000001") -> bytes:
    return json.dumps(
        {
            "merchant_id": merchant,
            "type": "customer.updated",
            "event_id": event_id,
            "created_at": "2024-05-01T00:00:00Z",
            "data": {"type": "customer", "id": customer_id, "object": {"customer": {"id": customer_id}}},
        }
    ).encode()


def post_square(body: bytes, signature: str | None):
    headers: dict[str, Any] = {"HTTP_X_SQUARE_HMACSHA256_SIGNATURE": signature} if signature is not None else {}
    return APIClient(enforce_csrf_checks=True).post(SQUARE_PATH, body, content_type="application/json", **headers)


def events(tenant) -> list[WebhookEvent]:
    with tenant_context(tenant.id, role="system"):
        return list(WebhookEvent.objects.all())


def test_square_valid_signature_records_and_enqueues(world, django_capture_on_commit_callbacks):
    connect(world.tenant_a, "square", config={"merchant_id": "M-A"})
    body = square_event("M-A")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_square(body, sign(KEY, NOTIFY_URL.encode() + body))

    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert [(e.event_id, e.event_type, e.object_id, e.processed) for e in events(world.tenant_a)] == [
        ("evt-1", "customer.updated", "SQCUST000001", False)
    ]
    assert len(callbacks) == 1
    assert events(world.tenant_b) == []


@pytest.mark.parametrize("case", ["tampered body", "wrong url", "wrong key", "missing"])
def test_square_bad_signature_is_401_and_writes_nothing(world, case):
    connect(world.tenant_a, "square", config={"merchant_id": "M-A"})
    body = square_event("M-A")
    signature = {
        "tampered body": sign(KEY, NOTIFY_URL.encode() + body),
        "wrong url": sign(KEY, b"https://evil.test/hook" + body),
        "wrong key": sign("other-key", NOTIFY_URL.encode() + body),
        "missing": None,
    }[case]
    if case == "tampered body":
        body = body.replace(b"SQCUST000001", b"SQCUST000002")

    response = post_square(body, signature)

    assert response.status_code == 401 and response.json()["code"] == "invalid_signature"
    assert events(world.tenant_a) == []


def test_square_replayed_event_is_accepted_once(world, django_capture_on_commit_callbacks):
    connect(world.tenant_a, "square", config={"merchant_id": "M-A"})
    body = square_event("M-A")
    signature = sign(KEY, NOTIFY_URL.encode() + body)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = post_square(body, signature)
        replay = post_square(body, signature)

    assert first.json()["status"] == "accepted" and replay.status_code == 200 and replay.json()["status"] == "duplicate"
    assert len(events(world.tenant_a)) == 1 and len(callbacks) == 1


def test_square_event_goes_to_every_tenant_verified_for_the_merchant(world, django_capture_on_commit_callbacks):
    connect(world.tenant_a, "square", config={"merchant_id": "M-SHARED"})
    connect(world.tenant_b, "square", config={"merchant_id": "M-SHARED"})
    body = square_event("M-SHARED")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = post_square(body, sign(KEY, NOTIFY_URL.encode() + body))
        replay = post_square(body, sign(KEY, NOTIFY_URL.encode() + body))

    assert first.json()["status"] == "accepted" and replay.json()["status"] == "duplicate"
    assert [e.event_id for e in events(world.tenant_a)] == [e.event_id for e in events(world.tenant_b)] == ["evt-1"]
    assert len(callbacks) == 2


def test_square_unknown_merchant_is_200_and_ignored(world):
    body = square_event("M-NOBODY")
    response = post_square(body, sign(KEY, NOTIFY_URL.encode() + body))
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert events(world.tenant_a) == events(world.tenant_b) == []


@responses.activate
def test_square_event_processing_refetches_and_upserts(world, django_capture_on_commit_callbacks):
    connect(world.tenant_a, "square", config={"merchant_id": "M-A"})
    body = square_event("M-A")
    with django_capture_on_commit_callbacks(execute=False):
        post_square(body, sign(KEY, NOTIFY_URL.encode() + body))
    event = events(world.tenant_a)[0]
    responses.add(
        responses.GET,
        f"{fakes.SQUARE}/v2/customers/SQCUST000001",
        json={"customer": fakes.square_customer(1, given_name="Fresh")},
    )

    outcome = process_square_event(tenant_id=world.tenant_a.id, event_id=event.id, policy=no_wait_policy())

    assert outcome == "created"
    assert process_square_event(tenant_id=world.tenant_a.id, event_id=event.id) == "already processed"
    with tenant_context(world.tenant_a.id, role="system"):
        assert Client.objects.get().first_name == "Fresh"
        assert WebhookEvent.objects.get().processed


# --- Acuity -----------------------------------------------------------------------------


def acuity_url(connection) -> str:
    return f"/api/v1/webhooks/acuity/{connection.config['webhook_token']}/"


def post_acuity(path: str, body: bytes, signature: str | None):
    headers: dict[str, Any] = {"HTTP_X_ACUITY_SIGNATURE": signature} if signature is not None else {}
    return APIClient(enforce_csrf_checks=True).post(
        path, body, content_type="application/x-www-form-urlencoded", **headers
    )


def test_acuity_webhook_url_is_shown_on_the_connection(world):
    connection = connect(world.tenant_a, "acuity")
    body = world.a.get(f"/api/v1/integrations/{connection.id}/").json()
    assert body["webhook_url"].endswith(acuity_url(connection))
    assert "webhook_token" not in body["config"] and "acuity-key-1" not in json.dumps(body)


def test_acuity_signature_is_checked_with_the_connection_api_key(world, django_capture_on_commit_callbacks):
    connection = connect(world.tenant_a, "acuity")
    body = urlencode({"action": "scheduled", "id": "1001", "calendarID": "5", "appointmentTypeID": "77"}).encode()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        good = post_acuity(acuity_url(connection), body, sign("acuity-key-1", body))
        tampered = post_acuity(acuity_url(connection), body.replace(b"1001", b"1002"), sign("acuity-key-1", body))
        wrong_key = post_acuity(acuity_url(connection), body, sign("someone-elses-key", body))
        missing = post_acuity(acuity_url(connection), body, None)
        unknown = post_acuity("/api/v1/webhooks/acuity/not-a-token/", body, sign("acuity-key-1", body))
        bare = post_acuity("/api/v1/webhooks/acuity/", body, sign("acuity-key-1", body))

    assert good.status_code == 200 and good.json()["status"] == "accepted"
    assert [r.status_code for r in (tampered, wrong_key, missing, unknown, bare)] == [401] * 5
    assert len(callbacks) == 1


def test_acuity_replay_is_recorded_once_and_answered_duplicate(world, django_capture_on_commit_callbacks):
    connection = connect(world.tenant_a, "acuity")
    body = urlencode(
        {"action": "appointment.changed", "id": "1001", "calendarID": "5", "appointmentTypeID": "77"}
    ).encode()
    other = urlencode(
        {"action": "appointment.canceled", "id": "1001", "calendarID": "5", "appointmentTypeID": "77"}
    ).encode()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = post_acuity(acuity_url(connection), body, sign("acuity-key-1", body))
        replay = post_acuity(acuity_url(connection), body, sign("acuity-key-1", body))
        canceled = post_acuity(acuity_url(connection), other, sign("acuity-key-1", other))

    assert [r.json()["status"] for r in (first, replay, canceled)] == ["accepted", "duplicate", "accepted"]
    recorded = sorted((e.provider, e.event_type, e.object_id, e.processed) for e in events(world.tenant_a))
    assert recorded == [
        ("acuity", "appointment.canceled", "1001", False),
        ("acuity", "appointment.changed", "1001", False),
    ]
    assert len(callbacks) == 2
    assert events(world.tenant_b) == []


@pytest.mark.parametrize("appointment_id", ["١٢٣", "²", "12 3", "", "-5", "0x1f"])
def test_acuity_ids_are_ascii_digits_only(world, appointment_id, django_capture_on_commit_callbacks):
    connection = connect(world.tenant_a, "acuity")
    body = urlencode({"action": "scheduled", "id": appointment_id}).encode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_acuity(acuity_url(connection), body, sign("acuity-key-1", body))
    assert response.status_code == 400 and response.json()["fields"].keys() == {"id"}
    assert events(world.tenant_a) == [] and callbacks == []


@responses.activate
def test_acuity_event_is_marked_processed_with_its_outcome(world, django_capture_on_commit_callbacks):
    connection = connect(world.tenant_a, "acuity")
    body = urlencode({"action": "scheduled", "id": "1001"}).encode()
    with django_capture_on_commit_callbacks(execute=False):
        post_acuity(acuity_url(connection), body, sign("acuity-key-1", body))
    event = events(world.tenant_a)[0]
    responses.add(responses.GET, f"{fakes.ACUITY}/appointments/1001", json=fakes.acuity_appointment(1))

    outcome = process_acuity_appointment(
        tenant_id=world.tenant_a.id,
        connection_id=connection.id,
        appointment_id="1001",
        event_id=event.id,
        policy=no_wait_policy(),
    )

    assert outcome == "created"
    processed = events(world.tenant_a)[0]
    assert processed.processed and processed.outcome == "created"


@responses.activate
def test_acuity_webhook_processing_fetches_and_upserts_the_appointment(world):
    connection = connect(world.tenant_a, "acuity")
    responses.add(responses.GET, f"{fakes.ACUITY}/appointments/1001", json=fakes.acuity_appointment(1))

    outcome = process_acuity_appointment(
        tenant_id=world.tenant_a.id, connection_id=connection.id, appointment_id="1001", policy=no_wait_policy()
    )
    again = process_acuity_appointment(
        tenant_id=world.tenant_a.id, connection_id=connection.id, appointment_id="1001", policy=no_wait_policy()
    )

    assert (outcome, again) == ("created", "unchanged")
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    with tenant_context(world.tenant_a.id, role="system"):
        appointment = Appointment.objects.get()
        assert appointment.price_amount == 8550 and appointment.client.email == "person1@example.com"


# --- signed but hostile bodies (issue 24): 400 after the signature check, never a 500 ---------
# Run without a test transaction: what PostgreSQL refuses (a NUL, a lone surrogate) meets it
# exactly as under a real server.

DEEP = 50_000


def _committed_tenant():
    from conftest import make_tenant

    tenant, _owner = make_tenant(f"Hooks {uuid.uuid4().hex[:8]}")
    return tenant


def _square_body(merchant: str, event_id_json: str = '"evt-ok"', data_json: str = "{}") -> bytes:
    return (
        f'{{"merchant_id": "{merchant}", "type": "customer.updated", "event_id": {event_id_json}, '
        f'"created_at": "2024-05-01T00:00:00Z", "data": {data_json}}}'
    ).encode()


@pytest.mark.parametrize(
    ("case", "event_id_json", "data_json"),
    [
        ("NUL in event_id", '"evt-\\u0000-1"', "{}"),
        ("lone surrogate in event_id", '"evt-\\ud800"', "{}"),
        ("lone surrogate in a key", '"evt-ok"', '{"\\udfff": 1}'),
        ("NUL deep in the data", '"evt-ok"', '{"object": {"note": "a\\u0000b"}}'),
        ("50,000 levels of nesting", '"evt-ok"', "[" * DEEP + "]" * DEEP),
        ("65 levels of nesting", '"evt-ok"', "[" * 64 + "]" * 64),
        ("a key named twice", '"evt-ok", "event_id": "evt-other"', "{}"),
    ],
)
def test_signed_square_bodies_with_nul_surrogates_or_deep_nesting_are_400(committed, case, event_id_json, data_json):
    tenant = _committed_tenant()
    merchant = f"MERCHANT-{uuid.uuid4().hex[:10]}"
    connect(tenant, "square", config={"merchant_id": merchant})
    body = _square_body(merchant, event_id_json, data_json)
    response = APIClient(raise_request_exception=False).post(
        SQUARE_PATH,
        body,
        content_type="application/json",
        HTTP_X_SQUARE_HMACSHA256_SIGNATURE=sign(KEY, NOTIFY_URL.encode() + body),
    )
    assert response.status_code == 400, (case, response.status_code, response.content[:300])
    assert response.json()["code"] == "validation_error" and response.json()["fields"].keys() == {"body"}, (
        response.json()
    )
    assert events(tenant) == []
    # Unsigned, the same body is a 401: the signature is checked first.
    unsigned = APIClient(raise_request_exception=False).post(SQUARE_PATH, body, content_type="application/json")
    assert unsigned.status_code == 401


def test_a_signed_square_body_at_the_nesting_limit_is_accepted(committed):
    tenant = _committed_tenant()
    merchant = f"MERCHANT-{uuid.uuid4().hex[:10]}"
    connect(tenant, "square", config={"merchant_id": merchant})
    body = _square_body(merchant, '"evt-deep-ok"', "[" * 63 + "]" * 63)  # 64 levels with the envelope
    response = post_square(body, sign(KEY, NOTIFY_URL.encode() + body))
    assert response.status_code == 200 and response.json()["status"] == "accepted", response.content[:300]
    assert [event.event_id for event in events(tenant)] == ["evt-deep-ok"]


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (b"action=sch%00eduled&id=1001", "action"),
        (b"action=scheduled&id=1001&calendarID=5%00", "calendarID"),
        (b"action=scheduled&id=1001&note=%ED%A0%80", "body"),  # a UTF-8-encoded lone surrogate
        (b"action=scheduled&id=1001&note=%FF", "body"),
        (b"action=Scheduled%20%3Cb%3E&id=1001", "action"),
    ],
)
def test_signed_acuity_bodies_with_nul_or_bad_text_are_400(committed, body, parameter):
    tenant = _committed_tenant()
    connection = connect(tenant, "acuity")
    response = APIClient(raise_request_exception=False).post(
        acuity_url(connection),
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_ACUITY_SIGNATURE=sign("acuity-key-1", body),
    )
    assert response.status_code == 400, (body, response.status_code, response.content[:300])
    assert response.json()["code"] == "validation_error" and response.json()["fields"].keys() == {parameter}
    assert events(tenant) == []
