"""Sending: at most once, consent checked when the draft is claimed, failures and retries."""

from __future__ import annotations

import datetime
from email.utils import parseaddr

import pytest
import responses
from django.core import mail

from campaigns.models import MessageDraft
from campaigns.rules import MAX_SEND_ATTEMPTS, SendResult
from campaigns.sending import draft_send
from campaigns.tasks import send_backoff, send_message_draft
from campaigns.tests.factories import NO_QUIET_HOURS, make_client, make_draft, make_settings
from clients import consent
from clients import services as client_services
from clients.models import Client, ConsentOrigin
from tenants.context import tenant_context

Status = MessageDraft.Status
SID = "AC0123456789abcdef0123456789abcdef"
TWILIO = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"


def twilio_created(sid="SM0123456789abcdef0123456789abcdef") -> dict:
    """Twilio's 201 response to a message create (trimmed)."""
    return {
        "sid": sid,
        "account_sid": SID,
        "to": "+14155550123",
        "from": "+14155550000",
        "body": "Happy birthday!",
        "status": "queued",
        "num_segments": "1",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "uri": f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json",
    }


def twilio_error(code=21211, message="The 'To' number is not a valid phone number.", status=400) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@pytest.fixture
def sms_draft(world):
    make_settings(
        world.tenant_a,
        sms_from_number="+14155550000",
        sender_credentials={"twilio_account_sid": SID, "twilio_auth_token": "tok"},
        **NO_QUIET_HOURS,
    )
    client = make_client(world.tenant_a, phone="+14155550123")
    return make_draft(world.tenant_a, client, status=Status.APPROVED, body="Happy birthday!")


def reload(tenant, draft) -> MessageDraft:
    with tenant_context(tenant.id, role="system"):
        return MessageDraft.objects.get(id=draft.id)


@responses.activate
def test_sms_is_sent_once_under_duplicate_delivery(world, sms_draft):
    responses.post(TWILIO, status=201, json=twilio_created())
    assert draft_send(tenant_id=world.tenant_a.id, draft_id=sms_draft.id).status == SendResult.SENT
    assert draft_send(tenant_id=world.tenant_a.id, draft_id=sms_draft.id).status == SendResult.SKIPPED
    assert len(responses.calls) == 1
    sent = responses.calls[0].request
    assert (
        "To=%2B14155550123" in sent.body
        and "From=%2B14155550000" in sent.body
        and "Body=Happy+birthday%21" in sent.body
    )
    assert sent.headers["Authorization"].startswith("Basic ")
    draft = reload(world.tenant_a, sms_draft)
    assert draft.status == "sent" and draft.provider_message_id.startswith("SM") and draft.sent_at is not None
    assert draft.recipient == "+14155550123" and draft.attempts == 1


@responses.activate
def test_a_draft_left_sending_by_a_dead_worker_is_not_sent_again(world, sms_draft):
    # The first delivery claimed it and died before recording: the redelivery must not send.
    with tenant_context(world.tenant_a.id, role="system"):
        MessageDraft.objects.filter(id=sms_draft.id).update(status=Status.SENDING, attempts=1)
    assert draft_send(tenant_id=world.tenant_a.id, draft_id=sms_draft.id).status == SendResult.SKIPPED
    assert len(responses.calls) == 0


def test_a_draft_stuck_in_sending_is_failed_for_a_person_to_check_after_an_hour(world, sms_draft):
    from django.utils import timezone

    from campaigns.tasks import fail_stale_sending

    other = make_draft(world.tenant_b, make_client(world.tenant_b, phone="+14155550999"), status=Status.APPROVED)
    long_ago = timezone.now() - datetime.timedelta(hours=2)
    for tenant, draft in ((world.tenant_a, sms_draft), (world.tenant_b, other)):
        with tenant_context(tenant.id, role="system"):
            MessageDraft.objects.filter(id=draft.id).update(status=Status.SENDING, updated_at=long_ago)
    with tenant_context(world.tenant_b.id, role="system"):
        recent = make_draft(world.tenant_b, make_client(world.tenant_b, phone="+14155550998"), status=Status.APPROVED)
        MessageDraft.objects.filter(id=recent.id).update(status=Status.SENDING)
    assert fail_stale_sending.run() == 2
    assert fail_stale_sending.run() == 0
    assert reload(world.tenant_a, sms_draft).status == "failed"
    assert "unknown" in reload(world.tenant_b, other).failure_reason
    assert reload(world.tenant_b, recent).status == "sending"


def test_email_goes_through_djangos_email_backend(world):
    client = make_client(world.tenant_a, email="ana@example.test")
    draft = make_draft(world.tenant_a, client, status=Status.APPROVED, channel="email", body="Happy birthday, Ana!")
    assert draft_send(tenant_id=world.tenant_a.id, draft_id=draft.id).status == SendResult.SENT
    assert draft_send(tenant_id=world.tenant_a.id, draft_id=draft.id).status == SendResult.SKIPPED
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ana@example.test"] and mail.outbox[0].subject == "Happy birthday from Salon A"
    assert reload(world.tenant_a, draft).status == "sent"


def test_email_is_sent_from_the_platform_sender_with_the_salon_as_reply_to(world, settings):
    """The platform's SMTP never sends as an address the tenant typed: From is the verified
    platform sender (with the salon's name), the salon's address is only the Reply-To."""
    settings.DEFAULT_FROM_EMAIL = "BrandVX <birthdays@mail.brandvx.test>"
    make_settings(world.tenant_a, email_reply_to="x@evil.test")
    client = make_client(world.tenant_a, email="ana@example.test")
    draft = make_draft(world.tenant_a, client, status=Status.APPROVED, channel="email", body="Happy birthday, Ana!")

    assert draft_send(tenant_id=world.tenant_a.id, draft_id=draft.id).status == SendResult.SENT

    message = mail.outbox[0]
    assert parseaddr(message.from_email) == ("Salon A", "birthdays@mail.brandvx.test")
    assert message.reply_to == ["x@evil.test"]
    assert "evil.test" not in message.message()["From"]


def test_email_without_a_salon_address_has_no_reply_to(world, settings):
    settings.DEFAULT_FROM_EMAIL = "birthdays@mail.brandvx.test"
    client = make_client(world.tenant_a, email="ana@example.test")
    draft = make_draft(world.tenant_a, client, status=Status.APPROVED, channel="email", body="Happy birthday, Ana!")
    assert draft_send(tenant_id=world.tenant_a.id, draft_id=draft.id).status == SendResult.SENT
    assert parseaddr(mail.outbox[0].from_email) == ("Salon A", "birthdays@mail.brandvx.test")
    assert mail.outbox[0].reply_to == []


@responses.activate
def test_an_opt_out_after_approval_stops_the_message(world, sms_draft):
    with tenant_context(world.tenant_a.id, role="system"):
        consent.consent_record(
            tenant=world.tenant_a,
            client=Client.objects.get(id=sms_draft.client_id),
            decisions={"sms": False},
            origin=ConsentOrigin.UNSUBSCRIBE_LINK,
        )
    outcome = draft_send(tenant_id=world.tenant_a.id, draft_id=sms_draft.id)
    assert outcome.status == SendResult.FAILED and len(responses.calls) == 0
    draft = reload(world.tenant_a, sms_draft)
    assert draft.status == "failed" and "opted out" in draft.failure_reason and draft.attempts == 0


@responses.activate
def test_a_provider_refusal_fails_the_draft_with_the_reason(world, sms_draft):
    responses.post(TWILIO, status=400, json=twilio_error())
    outcome = draft_send(tenant_id=world.tenant_a.id, draft_id=sms_draft.id)
    assert outcome.status == SendResult.FAILED
    draft = reload(world.tenant_a, sms_draft)
    assert draft.status == "failed"
    assert draft.failure_reason == (
        "Twilio HTTP 400, error 21211: Unable to create record: The 'To' number is not a valid phone number."
    )


@responses.activate
def test_a_transient_error_puts_the_draft_back_for_a_retry(world, sms_draft):
    responses.post(TWILIO, status=429, json=twilio_error(20429, "Too Many Requests", 429), headers={"Retry-After": "7"})
    outcome = draft_send(tenant_id=world.tenant_a.id, draft_id=sms_draft.id)
    assert (outcome.status, outcome.retry_after) == (SendResult.RETRY, 7)
    draft = reload(world.tenant_a, sms_draft)
    assert draft.status == "approved" and "429" in draft.failure_reason and draft.attempts == 1


@responses.activate
def test_the_task_retries_transient_errors_then_sends(world, sms_draft):
    responses.post(TWILIO, status=503, json={"message": "Service unavailable"})
    responses.post(TWILIO, body=__import__("requests").ConnectionError("reset"))
    responses.post(TWILIO, status=201, json=twilio_created())
    # apply() runs the task here, retries included (countdowns are not waited for).
    send_message_draft.apply(args=[str(world.tenant_a.id), str(sms_draft.id)]).get()
    assert len(responses.calls) == 3
    draft = reload(world.tenant_a, sms_draft)
    assert draft.status == "sent" and draft.attempts == 3 and draft.failure_reason == ""


@responses.activate
def test_retries_are_bounded(world, sms_draft):
    responses.post(TWILIO, status=500, json={"message": "Internal error"})
    send_message_draft.apply(args=[str(world.tenant_a.id), str(sms_draft.id)])
    assert len(responses.calls) == MAX_SEND_ATTEMPTS
    draft = reload(world.tenant_a, sms_draft)
    assert draft.status == "failed" and "500" in draft.failure_reason and draft.attempts == MAX_SEND_ATTEMPTS


def test_backoff_grows_and_is_capped():
    assert 30 <= send_backoff(0) <= 45 and 60 <= send_backoff(1) <= 75 and send_backoff(10) <= 915


def test_sms_without_twilio_setup_fails_without_calling_anyone(world):
    make_settings(world.tenant_a, **NO_QUIET_HOURS)
    client = make_client(world.tenant_a)
    draft = make_draft(world.tenant_a, client, status=Status.APPROVED, occasion_date=datetime.date(2026, 5, 5))
    outcome = draft_send(tenant_id=world.tenant_a.id, draft_id=draft.id)
    assert outcome.status == SendResult.FAILED and "not set up" in reload(world.tenant_a, draft).failure_reason


def test_drafts_of_another_tenant_cannot_be_sent_from_this_one(world, sms_draft):
    assert draft_send(tenant_id=world.tenant_b.id, draft_id=sms_draft.id).status == SendResult.SKIPPED
    assert reload(world.tenant_a, sms_draft).status == "approved"


@responses.activate
def test_an_opted_out_client_gets_nothing_even_after_a_merge_with_an_older_opt_in(world):
    """The client unsubscribed; a duplicate with an older opt-in is merged in. No batch draft,
    and an approved draft fails at the send: no email, no SMS."""
    tenant = world.tenant_a
    make_settings(
        tenant,
        sms_from_number="+14155550000",
        sender_credentials={"twilio_account_sid": SID, "twilio_auth_token": "tok"},
    )
    client = make_client(tenant, email="ana@example.test", phone="+14155550123", birthday=(3, 3))
    duplicate = make_client(tenant, email="", phone="", birthday=None)  # opted in before the unsubscribe
    email_draft = make_draft(tenant, client, status=Status.APPROVED, channel="email")
    sms_draft = make_draft(
        tenant, client, status=Status.APPROVED, channel="sms", occasion_date=datetime.date(2026, 3, 4)
    )
    with tenant_context(tenant.id, role="system"):
        consent.consent_record(
            tenant=tenant,
            client=client,
            decisions={"email": False, "sms": False},
            origin=ConsentOrigin.UNSUBSCRIBE_LINK,
        )
    with tenant_context(tenant.id, role="staff"):
        client_services.client_merge(tenant=tenant, source_id=duplicate.id, target_id=client.id)
        merged = Client.objects.get(id=client.id)
    assert not merged.email_consent and not merged.sms_consent

    outcomes = [draft_send(tenant_id=tenant.id, draft_id=d.id).status for d in (email_draft, sms_draft)]

    assert outcomes == ["failed", "failed"]
    assert len(mail.outbox) == 0 and len(responses.calls) == 0
    # A birthday batch over the window skips the client, and says why.
    from campaigns.batches import birthday_batch_run
    from campaigns.services import BIRTHDAY_BATCH_KIND
    from tenants import jobs
    from tenants.models import BackgroundJob

    with tenant_context(tenant.id, role="system"):
        job = jobs.job_create(
            tenant=tenant, kind=BIRTHDAY_BATCH_KIND, params={"days_ahead": 7, "from": "2026-03-01", "channel": "email"}
        )
    birthday_batch_run(tenant_id=tenant.id, job_id=job.id)
    with tenant_context(tenant.id, role="system"):
        job = BackgroundJob.objects.get(id=job.id)
    assert job.counts["created"] == 0 and job.counts["skipped"] == 1
    assert job.errors == [{"client_id": str(client.id), "reason": "no_email_consent"}]
