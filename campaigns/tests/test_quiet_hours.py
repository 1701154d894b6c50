"""Quiet hours: an SMS approved outside the tenant's window (local time) waits for the window's
next start (`send_after`, the API answers 202); the beat's sweep queues it then and it is sent.
E-mail is never deferred. The clock is fixed with time-machine."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
import responses
import time_machine

from campaigns import sending
from campaigns.models import MessageDraft
from campaigns.quiet_hours import sms_window_next_start
from campaigns.rules import SendResult
from campaigns.tasks import send_due_drafts, send_message_draft
from campaigns.tests.factories import make_client, make_draft, make_settings
from tenants.context import tenant_context

Status = MessageDraft.Status
LA = zoneinfo.ZoneInfo("America/Los_Angeles")  # tenant A's time zone (conftest.TenantWorld)
UTC = datetime.UTC
NINE, EIGHT_PM = datetime.time(9), datetime.time(20)
SID = "AC" + "c" * 32


def at_la(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=LA)


@pytest.mark.parametrize(
    ("now", "start", "end", "expected"),
    [
        (at_la(2026, 12, 3, 12, 0), NINE, EIGHT_PM, None),  # inside
        (at_la(2026, 12, 3, 9, 0), NINE, EIGHT_PM, None),  # the start is inside
        (at_la(2026, 12, 3, 20, 0), NINE, EIGHT_PM, at_la(2026, 12, 4, 9, 0)),  # the end is not
        (at_la(2026, 12, 3, 6, 30), NINE, EIGHT_PM, at_la(2026, 12, 3, 9, 0)),  # early: today's start
        (at_la(2026, 12, 3, 23, 0), NINE, EIGHT_PM, at_la(2026, 12, 4, 9, 0)),  # late: tomorrow's
        # A window across midnight (22:00-06:00).
        (at_la(2026, 12, 3, 23, 0), datetime.time(22), datetime.time(6), None),
        (at_la(2026, 12, 3, 5, 0), datetime.time(22), datetime.time(6), None),
        (at_la(2026, 12, 3, 12, 0), datetime.time(22), datetime.time(6), at_la(2026, 12, 3, 22, 0)),
        # Equal times: no quiet hours.
        (at_la(2026, 12, 3, 3, 0), datetime.time(0), datetime.time(0), None),
        # The night clocks go forward (2026-03-08 in Los Angeles): 09:00 is still 09:00 local.
        (at_la(2026, 3, 7, 23, 0), NINE, EIGHT_PM, at_la(2026, 3, 8, 9, 0)),
    ],
)
def test_next_window_start(now, start, end, expected):
    found = sms_window_next_start(now=now.astimezone(UTC), tz=LA, start=start, end=end)
    assert found == expected
    if expected is not None:
        assert found.astimezone(LA).time() == start


@pytest.fixture
def night(world):
    """22:30 in Los Angeles (06:30 UTC the next day), tenant A with the default window."""
    make_settings(
        world.tenant_a,
        sms_from_number="+14155550000",
        sender_credentials={"twilio_account_sid": SID, "twilio_auth_token": "tok"},
    )
    with time_machine.travel(datetime.datetime(2026, 12, 4, 6, 30, tzinfo=UTC), tick=False) as traveller:
        yield traveller


NEXT_START = datetime.datetime(2026, 12, 4, 17, 0, tzinfo=UTC)  # 09:00 in Los Angeles


def test_the_default_window_is_nine_to_eight(world):
    response = world.a.get("/api/v1/campaigns/settings/").json()
    assert (response["sms_window_start"], response["sms_window_end"]) == ("09:00", "20:00")
    changed = world.a.patch("/api/v1/campaigns/settings/", {"sms_window_start": "08:30", "sms_window_end": "21:00"})
    assert changed.status_code == 200 and changed.json()["sms_window_end"] == "21:00"
    for bad in ("9:00", "24:00", "08:30:00", "08:30Z", 830):
        refused = world.a.patch("/api/v1/campaigns/settings/", {"sms_window_start": bad}, format="json")
        assert refused.status_code == 400 and refused.json()["fields"].keys() == {"sms_window_start"}, bad


def test_an_sms_approved_at_night_is_deferred_with_202_and_email_is_not(
    world, night, django_capture_on_commit_callbacks
):
    sms = make_draft(world.tenant_a, make_client(world.tenant_a))
    email = make_draft(world.tenant_a, make_client(world.tenant_a), channel="email")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = world.a.post(f"/api/v1/message-drafts/{sms.id}/approve/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "approved" and body["send_after"] == "2026-12-04T17:00:00Z"
    assert callbacks == []  # nothing queued now: the sweep queues it at 09:00
    listed = world.a.get("/api/v1/message-drafts/", {"status": "approved"}).json()["results"]
    assert [d["send_after"] for d in listed] == ["2026-12-04T17:00:00Z"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = world.a.post(f"/api/v1/message-drafts/{email.id}/approve/")
    assert response.status_code == 200 and response.json()["send_after"] is None and len(callbacks) == 1


def test_bulk_approve_at_night_says_which_are_deferred(world, night):
    sms = make_draft(world.tenant_a, make_client(world.tenant_a))
    email = make_draft(world.tenant_a, make_client(world.tenant_a), channel="email")
    response = world.a.post("/api/v1/message-drafts/bulk-approve/", {"ids": [str(sms.id), str(email.id)]}).json()
    assert set(response["approved"]) == {str(sms.id), str(email.id)}
    assert response["deferred"] == [str(sms.id)] and response["send_after"] == "2026-12-04T17:00:00Z"


@responses.activate
def test_the_worker_defers_at_night_and_the_sweep_sends_at_the_window_start(world, night, monkeypatch):
    client = make_client(world.tenant_a, phone="+14155550150")
    draft = make_draft(world.tenant_a, client, status=Status.APPROVED)
    # A send task that reaches the worker at night (say, approved just before 20:00 and
    # delivered late) does not send: no Twilio call is registered, any would fail the test.
    outcome = send_message_draft.apply(args=[str(world.tenant_a.id), str(draft.id)]).get()
    assert outcome == SendResult.DEFERRED
    with tenant_context(world.tenant_a.id, role="system"):
        stored = MessageDraft.objects.get(id=draft.id)
    assert stored.status == "approved" and stored.send_after == NEXT_START and stored.attempts == 0

    # The sweep runs the real send task for what it queues (no broker in between).
    queued: list[list[str]] = []

    def run_now(*args):
        queued.append(list(args))
        return send_message_draft.apply(args=list(args))

    monkeypatch.setattr(send_message_draft, "delay", run_now)
    night.move_to(NEXT_START - datetime.timedelta(minutes=5))
    assert send_due_drafts.run() == 0  # 08:55: not yet

    responses.post(
        f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json",
        status=201,
        json={"sid": "SM" + "9" * 32, "status": "queued", "error_code": None, "error_message": None},
    )
    night.move_to(NEXT_START + datetime.timedelta(minutes=2))
    assert send_due_drafts.run() == 1
    assert queued == [[str(world.tenant_a.id), str(draft.id)]] and len(responses.calls) == 1
    with tenant_context(world.tenant_a.id, role="system"):
        assert MessageDraft.objects.get(id=draft.id).status == "sent"
    assert send_due_drafts.run() == 0  # sent drafts are not queued again


def test_email_is_never_deferred(world, night):
    from django.core import mail

    draft = make_draft(world.tenant_a, make_client(world.tenant_a), status=Status.APPROVED, channel="email")
    assert sending.draft_send(tenant_id=world.tenant_a.id, draft_id=draft.id).status == SendResult.SENT
    assert len(mail.outbox) == 1
