"""Webhooks of messaging, as Twilio and an ESP call them: inbound STOP/START/HELP and status
callbacks signed by the twilio library's own RequestValidator, Postmark's tracking events
through django-anymail with its basic auth. A bad or missing signature is 403 and records
nothing; one tenant's webhook never touches another tenant's client."""

from __future__ import annotations

import base64
import datetime
import uuid
from urllib.parse import urlencode

import pytest
import responses
from django.test import Client as HttpClient
from django.test import override_settings
from twilio.request_validator import RequestValidator

from campaigns.batches import birthday_batch_run
from campaigns.models import MessageDraft
from campaigns.rules import SendResult
from campaigns.sending import draft_send
from campaigns.services import birthday_batch_start
from campaigns.tests.factories import NO_QUIET_HOURS, make_client, make_draft, make_settings
from clients.models import Client, ConsentEvent
from tenants.context import tenant_context
from tenants.models import BackgroundJob

Status = MessageDraft.Status
SID_A, TOKEN_A = "AC" + "a" * 32, "token-of-salon-a"
SID_B, TOKEN_B = "AC" + "b" * 32, "token-of-salon-b"
PHONE = "+14155550142"


@pytest.fixture
def twilio_world(world):
    make_settings(
        world.tenant_a,
        sms_from_number="+14155550000",
        sender_credentials={"twilio_account_sid": SID_A, "twilio_auth_token": TOKEN_A},
        **NO_QUIET_HOURS,
    )
    make_settings(
        world.tenant_b,
        sms_from_number="+14155550001",
        sender_credentials={"twilio_account_sid": SID_B, "twilio_auth_token": TOKEN_B},
    )
    return world


def twilio_post(path: str, params: dict, *, token: str | None, signed_url: str | None = None):
    """POST as Twilio does: form-encoded, X-Twilio-Signature by the library's own validator
    over the public URL (PUBLIC_BASE_URL is http://testserver in the test settings)."""
    headers = {}
    if token is not None:
        signature = RequestValidator(token).compute_signature(signed_url or f"http://testserver{path}", params)
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature
    return HttpClient().post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded", **headers)


def inbound(tenant, body: str, *, token: str, from_number: str = PHONE, **kwargs):
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": SID_A,
        "From": from_number,
        "To": "+14155550000",
        "Body": body,
        "NumMedia": "0",
    }
    return twilio_post(f"/api/v1/webhooks/twilio/{tenant.id}/sms/", params, token=token, **kwargs)


def reload_client(tenant, client) -> Client:
    with tenant_context(tenant.id, role="system"):
        return Client.objects.get(id=client.id)


def ledger(tenant, client) -> list[tuple[str, bool, str]]:
    with tenant_context(tenant.id, role="system"):
        return list(
            ConsentEvent.objects.filter(client_id=client.id)
            .order_by("recorded_at")
            .values_list("channel", "granted", "origin")
        )


# --- inbound SMS ---------------------------------------------------------------------------


def test_a_signed_stop_withdraws_sms_consent_and_the_next_batch_drafts_no_sms(twilio_world):
    world = twilio_world
    ana = make_client(world.tenant_a, phone=PHONE, birthday=(3, 3))
    response = inbound(world.tenant_a, "  stop ", token=TOKEN_A)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert "<Response" in response.content.decode() and "<Message" not in response.content.decode()
    assert reload_client(world.tenant_a, ana).sms_consent is False
    assert reload_client(world.tenant_a, ana).email_consent is True
    assert ledger(world.tenant_a, ana)[-1] == ("sms", False, "sms_reply")

    with tenant_context(world.tenant_a.id, role="owner_admin", user_id=world.owner_a.id):
        job = birthday_batch_start(
            tenant=world.tenant_a,
            acting_user=world.owner_a,
            days_ahead=7,
            start=datetime.date(2026, 3, 1),
            channel="sms",
        )
    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=job.id)
    with tenant_context(world.tenant_a.id, role="system"):
        counts = BackgroundJob.objects.get(id=job.id).counts
        assert not MessageDraft.objects.filter(client_id=ana.id).exists()
    assert counts["skipped_no_sms_consent"] == 1 and counts.get("created", 0) == 0


@pytest.mark.parametrize("word", ["STOP", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT "])
def test_every_opt_out_keyword_withdraws(twilio_world, word):
    ana = make_client(twilio_world.tenant_a, phone=PHONE)
    assert inbound(twilio_world.tenant_a, word, token=TOKEN_A).status_code == 200
    assert reload_client(twilio_world.tenant_a, ana).sms_consent is False


@pytest.mark.parametrize("word", ["START", "yes", "Unstop"])
def test_start_after_stop_grants_again(twilio_world, word):
    ana = make_client(twilio_world.tenant_a, phone=PHONE)
    inbound(twilio_world.tenant_a, "STOP", token=TOKEN_A)
    assert inbound(twilio_world.tenant_a, word, token=TOKEN_A).status_code == 200
    assert reload_client(twilio_world.tenant_a, ana).sms_consent is True
    assert [e for e in ledger(twilio_world.tenant_a, ana) if e[0] == "sms"][-2:] == [
        ("sms", False, "sms_reply"),
        ("sms", True, "sms_reply"),
    ]


def test_help_answers_with_the_salons_name_and_other_text_changes_nothing(twilio_world):
    ana = make_client(twilio_world.tenant_a, phone=PHONE)
    before = ledger(twilio_world.tenant_a, ana)
    help_reply = inbound(twilio_world.tenant_a, "help", token=TOKEN_A).content.decode()
    assert "<Message>" in help_reply and twilio_world.tenant_a.name in help_reply and "STOP" in help_reply
    chat = inbound(twilio_world.tenant_a, "Stop by tomorrow?", token=TOKEN_A)
    assert chat.status_code == 200 and "<Message" not in chat.content.decode()
    assert ledger(twilio_world.tenant_a, ana) == before
    assert reload_client(twilio_world.tenant_a, ana).sms_consent is True


def test_a_bad_or_missing_signature_is_403_and_records_nothing(twilio_world):
    world = twilio_world
    ana = make_client(world.tenant_a, phone=PHONE)
    before = ledger(world.tenant_a, ana)
    path = f"/api/v1/webhooks/twilio/{world.tenant_a.id}/sms/"
    refused = [
        inbound(world.tenant_a, "STOP", token=None),  # no signature
        inbound(world.tenant_a, "STOP", token="a-guess"),  # signed with another token
        inbound(world.tenant_a, "STOP", token=TOKEN_B),  # tenant B's own token, at A's URL
        # Signed for another host: the signature covers PUBLIC_BASE_URL + path, not the Host header.
        inbound(world.tenant_a, "STOP", token=TOKEN_A, signed_url=f"http://attacker.example{path}"),
    ]
    # A valid signature over other parameters (the body was changed on the way).
    params = {"From": PHONE, "Body": "hello"}
    signature = RequestValidator(TOKEN_A).compute_signature(f"http://testserver{path}", params)
    refused.append(
        HttpClient().post(
            path,
            data=urlencode({**params, "Body": "STOP"}),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=signature,
        )
    )
    assert [r.status_code for r in refused] == [403] * 5
    assert refused[0].json()["code"] == "invalid_signature"
    assert ledger(world.tenant_a, ana) == before and reload_client(world.tenant_a, ana).sms_consent is True


def test_a_tenant_without_twilio_credentials_or_an_unknown_tenant_is_403(world):
    ana = make_client(world.tenant_a, phone=PHONE)
    assert inbound(world.tenant_a, "STOP", token="").status_code == 403
    response = twilio_post(f"/api/v1/webhooks/twilio/{uuid.uuid4()}/sms/", {"From": PHONE, "Body": "STOP"}, token="x")
    assert response.status_code == 403
    assert reload_client(world.tenant_a, ana).sms_consent is True


def test_tenant_bs_signed_stop_for_a_number_only_tenant_a_has_changes_nothing(twilio_world):
    world = twilio_world
    ana = make_client(world.tenant_a, phone=PHONE)
    bo = make_client(world.tenant_b, phone="+14155550143")
    before = ledger(world.tenant_a, ana)
    response = inbound(world.tenant_b, "STOP", token=TOKEN_B, from_number=PHONE)
    assert response.status_code == 200
    assert ledger(world.tenant_a, ana) == before and reload_client(world.tenant_a, ana).sms_consent is True
    assert reload_client(world.tenant_b, bo).sms_consent is True
    # The same number in both tenants: each tenant's STOP is its own.
    twin = make_client(world.tenant_b, phone=PHONE)
    inbound(world.tenant_b, "STOP", token=TOKEN_B, from_number=PHONE)
    assert reload_client(world.tenant_b, twin).sms_consent is False
    assert reload_client(world.tenant_a, ana).sms_consent is True


# --- Twilio sending and status callbacks ---------------------------------------------------


def twilio_created(sid: str, account: str = SID_A) -> dict:
    """Twilio's 201 answer to a Messages create (its recorded shape, trimmed)."""
    return {
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": "Happy birthday!",
        "date_created": "Thu, 03 Dec 2026 14:30:00 +0000",
        "date_sent": None,
        "date_updated": "Thu, 03 Dec 2026 14:30:00 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": "+14155550000",
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": None,
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json"},
        "to": PHONE,
        "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
    }


@responses.activate
@override_settings(TWILIO_BASE_URL="https://twilio-sandbox.example")
def test_sending_goes_through_the_twilio_client_at_twilio_base_url_with_a_status_callback(twilio_world):
    world = twilio_world
    ana = make_client(world.tenant_a, phone=PHONE)
    draft = make_draft(world.tenant_a, ana, status=Status.APPROVED)
    sid = "SM" + "1" * 32
    responses.post(
        f"https://twilio-sandbox.example/2010-04-01/Accounts/{SID_A}/Messages.json",
        status=201,
        json=twilio_created(sid),
    )
    assert draft_send(tenant_id=world.tenant_a.id, draft_id=draft.id).status == SendResult.SENT
    [call] = responses.calls
    sent = dict(__import__("urllib.parse").parse.parse_qsl(call.request.body))
    assert sent["To"] == PHONE and sent["From"] == "+14155550000" and sent["Body"] == "Happy birthday!"
    assert sent["StatusCallback"] == f"http://testserver/api/v1/webhooks/twilio/{world.tenant_a.id}/status/"
    assert call.request.headers["Authorization"] == "Basic " + base64.b64encode(f"{SID_A}:{TOKEN_A}".encode()).decode()
    with tenant_context(world.tenant_a.id, role="system"):
        stored = MessageDraft.objects.get(id=draft.id)
    assert (stored.provider_message_id, stored.delivery_status, stored.delivered_at) == (sid, "sent", None)


def sent_draft(tenant, client, sid: str) -> MessageDraft:
    draft = make_draft(tenant, client, status=Status.SENT)
    with tenant_context(tenant.id, role="system"):
        MessageDraft.objects.filter(id=draft.id).update(
            provider_message_id=sid, recipient=client.phone, delivery_status="sent"
        )
    return draft


def status_callback(tenant, sid: str, status: str, *, token: str, to: str = PHONE):
    params = {
        "AccountSid": SID_A,
        "From": "+14155550000",
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": to,
        "ApiVersion": "2010-04-01",
    }
    return twilio_post(f"/api/v1/webhooks/twilio/{tenant.id}/status/", params, token=token)


def delivery_of(tenant, draft) -> tuple[str, datetime.datetime | None]:
    with tenant_context(tenant.id, role="system"):
        stored = MessageDraft.objects.get(id=draft.id)
    return stored.delivery_status, stored.delivered_at


def test_status_callbacks_move_the_draft_forward_only(twilio_world):
    world = twilio_world
    sid = "SM" + "2" * 32
    draft = sent_draft(world.tenant_a, make_client(world.tenant_a, phone=PHONE), sid)
    assert status_callback(world.tenant_a, sid, "sent", token=TOKEN_A).status_code == 204
    assert delivery_of(world.tenant_a, draft) == ("sent", None)
    assert status_callback(world.tenant_a, sid, "delivered", token=TOKEN_A).status_code == 204
    status, delivered_at = delivery_of(world.tenant_a, draft)
    assert status == "delivered" and delivered_at is not None
    # Late or out-of-order callbacks do not undo the final word.
    status_callback(world.tenant_a, sid, "sent", token=TOKEN_A)
    status_callback(world.tenant_a, sid, "undelivered", token=TOKEN_A)
    assert delivery_of(world.tenant_a, draft) == ("delivered", delivered_at)
    # The API shows it and filters on it.
    listed = world.a.get("/api/v1/message-drafts/", {"delivery_status": "delivered"}).json()["results"]
    assert [d["id"] for d in listed] == [str(draft.id)] and listed[0]["delivered_at"] is not None
    assert (
        world.a.get("/api/v1/message-drafts/", {"delivery_status": ["undelivered", "failed"]}).json()["results"] == []
    )


def test_an_undelivered_or_failed_text_is_recorded(twilio_world):
    world = twilio_world
    undelivered = sent_draft(world.tenant_a, make_client(world.tenant_a, phone=PHONE), "SM" + "3" * 32)
    failed = sent_draft(world.tenant_a, make_client(world.tenant_a, phone="+14155550144"), "SM" + "4" * 32)
    status_callback(world.tenant_a, "SM" + "3" * 32, "undelivered", token=TOKEN_A)
    status_callback(world.tenant_a, "SM" + "4" * 32, "failed", token=TOKEN_A, to="+14155550144")
    assert delivery_of(world.tenant_a, undelivered) == ("undelivered", None)
    assert delivery_of(world.tenant_a, failed) == ("failed", None)


def test_a_status_callback_with_a_bad_signature_or_from_another_tenant_changes_nothing(twilio_world):
    world = twilio_world
    sid = "SM" + "5" * 32
    draft = sent_draft(world.tenant_a, make_client(world.tenant_a, phone=PHONE), sid)
    assert status_callback(world.tenant_a, sid, "delivered", token="wrong").status_code == 403
    assert status_callback(world.tenant_a, sid, "delivered", token=None).status_code == 403
    # Tenant B's correctly signed callback naming tenant A's message sid.
    assert status_callback(world.tenant_b, sid, "undelivered", token=TOKEN_B).status_code == 204
    assert delivery_of(world.tenant_a, draft) == ("sent", None)


# --- e-mail: anymail (Postmark) --------------------------------------------------------------

WEBHOOK_SECRET = "postmark-hook:s3cret-of-the-platform"
ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET, "POSTMARK_SERVER_TOKEN": "server-token"}


def postmark_event(kind: str, *, draft: MessageDraft, tenant_id, message_id: str, email: str) -> dict:
    """Postmark's webhook payloads (their documented shape), with the metadata we sent."""
    metadata = {"tenant_id": str(tenant_id), "draft_id": str(draft.id)}
    if kind == "Delivery":
        return {
            "RecordType": "Delivery",
            "ServerID": 23,
            "MessageStream": "outbound",
            "MessageID": message_id,
            "Recipient": email,
            "Tag": "",
            "DeliveredAt": "2026-12-03T16:33:54.9070259Z",
            "Details": "Test delivery webhook details",
            "Metadata": metadata,
        }
    return {
        "RecordType": "Bounce" if kind != "SpamComplaint" else "SpamComplaint",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": {"HardBounce": 1, "SoftBounce": 4096, "SpamComplaint": 512}[kind],
        "Name": kind,
        "Tag": "",
        "MessageID": message_id,
        "Metadata": metadata,
        "ServerID": 23,
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "no-reply@brandvx.test",
        # When the ESP saw it: after the message was sent (the client's consent was given when
        # the fixture made it), as a real bounce always is.
        "BouncedAt": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
        "DumpAvailable": False,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Happy birthday from Salon A",
    }


def postmark_post(payload: dict, *, auth: str | None = WEBHOOK_SECRET):
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    return HttpClient().post(
        "/api/v1/webhooks/email/postmark/", data=payload, content_type="application/json", headers=headers
    )


@pytest.fixture
def mailed(world):
    ana = make_client(world.tenant_a, email="ana@example.test")
    draft = make_draft(world.tenant_a, ana, status=Status.SENT, channel="email")
    message_id = str(uuid.uuid4())
    with tenant_context(world.tenant_a.id, role="system"):
        MessageDraft.objects.filter(id=draft.id).update(
            provider_message_id=message_id, recipient=ana.email, delivery_status="sent"
        )
    return {"client": ana, "draft": draft, "message_id": message_id}


@responses.activate
@override_settings(EMAIL_BACKEND="anymail.backends.postmark.EmailBackend", ANYMAIL=ANYMAIL)
def test_email_through_an_esp_sends_the_headers_and_metadata_and_keeps_its_message_id(world):
    ana = make_client(world.tenant_a, email="ana@example.test")
    draft = make_draft(world.tenant_a, ana, status=Status.APPROVED, channel="email")
    message_id = "0a129aee-e1cd-480d-b08d-4f48548ff48d"
    responses.post(
        "https://api.postmarkapp.com/email",
        json={
            "To": "ana@example.test",
            "SubmittedAt": "2026-12-03T14:30:00.0000000-05:00",
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": "OK",
        },
    )
    assert draft_send(tenant_id=world.tenant_a.id, draft_id=draft.id).status == SendResult.SENT
    sent = __import__("json").loads(responses.calls[0].request.body)
    assert sent["Metadata"] == {"tenant_id": str(world.tenant_a.id), "draft_id": str(draft.id)}
    headers = {h["Name"]: h["Value"] for h in sent["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<http://testserver/u/")
    with tenant_context(world.tenant_a.id, role="system"):
        assert MessageDraft.objects.get(id=draft.id).provider_message_id == message_id


@override_settings(ANYMAIL=ANYMAIL)
@pytest.mark.parametrize(
    ("kind", "status", "origin"),
    [("HardBounce", "bounced", "provider_bounce"), ("SpamComplaint", "complained", "provider_complaint")],
)
def test_a_hard_bounce_or_complaint_withdraws_email_consent(world, mailed, kind, status, origin):
    payload = postmark_event(
        kind,
        draft=mailed["draft"],
        tenant_id=world.tenant_a.id,
        message_id=mailed["message_id"],
        email="ana@example.test",
    )
    assert postmark_post(payload).status_code == 200
    assert delivery_of(world.tenant_a, mailed["draft"])[0] == status
    client = reload_client(world.tenant_a, mailed["client"])
    assert client.email_consent is False and client.sms_consent is True
    assert ledger(world.tenant_a, mailed["client"])[-1] == ("email", False, origin)
    # Redelivered by the ESP: nothing new.
    before = ledger(world.tenant_a, mailed["client"])
    postmark_post(payload)
    assert ledger(world.tenant_a, mailed["client"]) == before


@override_settings(ANYMAIL=ANYMAIL)
def test_delivered_and_soft_bounces_keep_consent(world, mailed):
    args = {"draft": mailed["draft"], "tenant_id": world.tenant_a.id, "message_id": mailed["message_id"]}
    postmark_post(postmark_event("SoftBounce", email="ana@example.test", **args))
    assert reload_client(world.tenant_a, mailed["client"]).email_consent is True
    other = make_client(world.tenant_a, email="bo@example.test")
    draft = make_draft(world.tenant_a, other, status=Status.SENT, channel="email")
    with tenant_context(world.tenant_a.id, role="system"):
        MessageDraft.objects.filter(id=draft.id).update(provider_message_id="m-2", recipient=other.email)
    postmark_post(
        postmark_event("Delivery", draft=draft, tenant_id=world.tenant_a.id, message_id="m-2", email=other.email)
    )
    status, delivered_at = delivery_of(world.tenant_a, draft)
    assert status == "delivered" and delivered_at == datetime.datetime(
        2026, 12, 3, 16, 33, 54, 907025, tzinfo=datetime.UTC
    )
    assert reload_client(world.tenant_a, other).email_consent is True


@pytest.mark.parametrize("auth", [None, "postmark-hook:wrong"])
def test_the_email_webhook_without_the_basic_auth_is_403_and_records_nothing(world, mailed, auth):
    payload = postmark_event(
        "HardBounce",
        draft=mailed["draft"],
        tenant_id=world.tenant_a.id,
        message_id=mailed["message_id"],
        email="ana@example.test",
    )
    with override_settings(ANYMAIL=ANYMAIL):
        assert postmark_post(payload, auth=auth).status_code == 403
    # Nothing configured: refused too (anymail alone would only warn).
    with override_settings(ANYMAIL={}):
        assert postmark_post(payload).status_code == 403
    assert reload_client(world.tenant_a, mailed["client"]).email_consent is True
    assert delivery_of(world.tenant_a, mailed["draft"])[0] == "sent"


@override_settings(ANYMAIL=ANYMAIL)
def test_an_email_event_naming_another_tenant_or_another_message_changes_nothing(world, mailed):
    bo = make_client(world.tenant_b, email="ana@example.test")
    base = {"draft": mailed["draft"], "message_id": mailed["message_id"], "email": "ana@example.test"}
    # Tenant B named with tenant A's draft id; a wrong message id; another recipient.
    postmark_post(postmark_event("HardBounce", tenant_id=world.tenant_b.id, **base))
    postmark_post(postmark_event("HardBounce", tenant_id=world.tenant_a.id, **{**base, "message_id": "forged"}))
    postmark_post(postmark_event("HardBounce", tenant_id=world.tenant_a.id, **{**base, "email": "eve@example.test"}))
    assert reload_client(world.tenant_a, mailed["client"]).email_consent is True
    assert reload_client(world.tenant_b, bo).email_consent is True
    assert delivery_of(world.tenant_a, mailed["draft"])[0] == "sent"


def test_an_unknown_esp_is_404():
    assert (
        HttpClient().post("/api/v1/webhooks/email/nope/", data={}, content_type="application/json").status_code == 404
    )
