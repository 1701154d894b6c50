"""The campaigns endpoints: birthday batch, settings, drafts (filters, edit, approve,
discard, bulk approve), with the cross-tenant and role cases."""

from __future__ import annotations

import datetime
import uuid

import pytest

from brandvx.celery import app as celery_app
from campaigns.models import CampaignSettings, MessageDraft
from campaigns.tasks import send_message_draft
from campaigns.tests.factories import NO_QUIET_HOURS, make_client, make_draft, make_settings
from tenants.context import tenant_context
from tenants.models import BackgroundJob

Status = MessageDraft.Status


@pytest.fixture
def drafts(world):
    make_settings(world.tenant_a, **NO_QUIET_HOURS)  # approvals here send at once (quiet hours: test_quiet_hours)
    a1 = make_client(world.tenant_a, first_name="Ana")
    a2 = make_client(world.tenant_a, first_name="Bo")
    b1 = make_client(world.tenant_b, first_name="Cy")
    return {
        "a_sms": make_draft(world.tenant_a, a1, occasion_date=datetime.date(2026, 3, 3)),
        "a_email": make_draft(world.tenant_a, a2, channel="email", occasion_date=datetime.date(2026, 3, 9)),
        "a_sent": make_draft(world.tenant_a, a2, status=Status.SENT, occasion_date=datetime.date(2027, 3, 9)),
        "b": make_draft(world.tenant_b, b1, body="B's secret wish"),
    }


def status_of(tenant, draft) -> str:
    with tenant_context(tenant.id, role="system"):
        return MessageDraft.objects.get(id=draft.id).status


# --- birthday batch ------------------------------------------------------------------------


def test_birthday_batch_request_returns_202_and_queues_after_commit(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = world.a.post(
            "/api/v1/campaigns/birthday-batch/", {"days_ahead": 10, "from": "2026-12-28", "channel": "email"}
        )
    assert response.status_code == 202, response.content
    assert len(callbacks) == 1
    with tenant_context(world.tenant_a.id, role="system"):
        job = BackgroundJob.objects.get(id=response.json()["job_id"])
    assert job.kind == "campaigns.birthday_batch" and job.status == "queued" and job.started_by_id == world.owner_a.id
    assert job.params == {"days_ahead": 10, "from": "2026-12-28", "channel": "email", "scheduled": False}


def test_birthday_batch_defaults_to_the_tenants_today_and_channel(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = world.a.post("/api/v1/campaigns/birthday-batch/", {})
    assert response.status_code == 202
    with tenant_context(world.tenant_a.id, role="system"):
        job = BackgroundJob.objects.get(id=response.json()["job_id"])
    assert job.params["from"] == world.tenant_a.today().isoformat()
    assert job.params["channel"] == "sms" and job.params["days_ahead"] == 7


@pytest.mark.parametrize(
    "body,parameter",
    [
        ({"days_ahead": 400}, "days_ahead"),
        ({"days_ahead": "x"}, "days_ahead"),
        ({"channel": "fax"}, "channel"),
        ({"from": "2026-02-30"}, "from"),
    ],
)
def test_birthday_batch_rejects_bad_input_naming_the_field(world, body, parameter):
    response = world.a.post("/api/v1/campaigns/birthday-batch/", body)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error" and response.json()["fields"].keys() == {parameter}


def test_every_bad_field_is_named_at_once(world):
    # Serializer errors reach the caller whole (DRF's ValidationError), not cut to the first field.
    response = world.a.post("/api/v1/campaigns/birthday-batch/", {"days_ahead": 400, "channel": "fax"})
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    assert response.json()["fields"].keys() == {"days_ahead", "channel"}
    response = world.a.patch("/api/v1/campaigns/settings/", {"birthday_run_hour": 24, "sms_from_number": "555"})
    assert response.status_code == 400 and response.json()["fields"].keys() == {"birthday_run_hour", "sms_from_number"}


def test_viewer_cannot_start_a_batch(world):
    client = world.client(world.viewer_a, world.tenant_a)
    assert client.post("/api/v1/campaigns/birthday-batch/", {}).status_code == 403


# --- settings --------------------------------------------------------------------------


def test_settings_defaults_then_update_with_write_only_credentials(world):
    response = world.a.get("/api/v1/campaigns/settings/")
    assert response.status_code == 200
    assert response.json()["birthday_run_hour"] == 9 and response.json()["twilio_configured"] is False
    response = world.a.patch(
        "/api/v1/campaigns/settings/",
        {
            "birthday_template": "Hi {first_name}! Love, {business_name} ({birthday_date})",
            "birthday_run_enabled": True,
            "birthday_run_hour": 8,
            "birthday_run_minute": 30,
            "sms_from_number": "+14155550000",
            "twilio_account_sid": "AC123",
            "twilio_auth_token": "shh-secret",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["twilio_configured"] is True and "shh-secret" not in response.content.decode()
    assert "twilio_auth_token" not in body and body["birthday_run_minute"] == 30
    with tenant_context(world.tenant_a.id, role="system"):
        stored = CampaignSettings.objects.get(tenant=world.tenant_a)
    assert stored.sender_credentials == {"twilio_account_sid": "AC123", "twilio_auth_token": "shh-secret"}


@pytest.mark.parametrize(
    "template,fragment",
    [
        ("Hi {firstname}!", "Unknown placeholder {firstname}"),
        ("Hi {first_name!", "Invalid braces"),
        ("Hi first_name}!", "Invalid braces"),
        ("Hi {first_name.__class__}", "Unknown placeholder"),
        ("Hi {first_name:>99999999}", "may not carry a format"),
        ("Hi {}", "Unknown placeholder {}"),
        ("   ", "may not be blank"),
    ],
)
def test_invalid_templates_are_rejected_naming_the_field(world, template, fragment):
    response = world.a.patch("/api/v1/campaigns/settings/", {"birthday_template": template, "birthday_run_hour": 7})
    assert response.status_code == 400
    # The reason is under the field, whether the serializer (blank) or the service refused it.
    fields = response.json()["fields"]
    assert fields.keys() == {"birthday_template"} and fragment in " ".join(fields["birthday_template"])
    with tenant_context(world.tenant_a.id, role="system"):
        assert not CampaignSettings.objects.filter(tenant=world.tenant_a).exists()


def test_settings_reject_a_bad_hour_and_staff_cannot_write(world):
    response = world.a.patch("/api/v1/campaigns/settings/", {"birthday_run_hour": 24})
    assert response.status_code == 400 and response.json()["fields"].keys() == {"birthday_run_hour"}
    response = world.a.patch("/api/v1/campaigns/settings/", {"sms_from_number": "0415 555"})
    assert response.status_code == 400 and response.json()["fields"].keys() == {"sms_from_number"}
    staff = world.client(world.staff_a, world.tenant_a)
    assert staff.get("/api/v1/campaigns/settings/").status_code == 200
    assert staff.patch("/api/v1/campaigns/settings/", {"birthday_run_hour": 8}).status_code == 403


def test_a_sender_address_cannot_be_set_only_a_reply_to(world):
    """`email_from_address` is refused (400 naming it): the platform's SMTP sends only from
    the platform's verified sender; the salon's own address is the Reply-To."""
    response = world.a.patch("/api/v1/campaigns/settings/", {"email_from_address": "x@evil.test"}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error" and response.json()["fields"].keys() == {"email_from_address"}
    assert "email_reply_to" in response.json()["detail"]
    with tenant_context(world.tenant_a.id, role="system"):
        assert not CampaignSettings.objects.filter(tenant=world.tenant_a).exists()

    response = world.a.patch("/api/v1/campaigns/settings/", {"email_reply_to": "hello@salon-a.test"}, format="json")
    assert response.status_code == 200 and response.json()["email_reply_to"] == "hello@salon-a.test"
    assert "email_from_address" not in response.json()
    refused = world.a.patch("/api/v1/campaigns/settings/", {"email_reply_to": "not an address"}, format="json")
    assert refused.json()["fields"].keys() == {"email_reply_to"}


def test_settings_are_per_tenant(world):
    world.a.patch("/api/v1/campaigns/settings/", {"birthday_template": "A only {first_name}"})
    assert world.b.get("/api/v1/campaigns/settings/").json()["birthday_template"] != "A only {first_name}"


# --- drafts -----------------------------------------------------------------------------


def test_list_filters_by_status_channel_and_date(world, drafts):
    def ids(query):
        response = world.a.get(f"/api/v1/message-drafts/{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [str(drafts[k].id) for k in ("a_sms", "a_email", "a_sent")]
    assert ids("?status=draft") == [str(drafts["a_sms"].id), str(drafts["a_email"].id)]
    assert ids("?status=sent&status=failed") == [str(drafts["a_sent"].id)]
    assert ids("?channel=email") == [str(drafts["a_email"].id)]
    assert ids("?occasion_date_after=2026-03-04&occasion_date_before=2026-12-31") == [str(drafts["a_email"].id)]
    response = world.a.get("/api/v1/message-drafts/?status=nope")
    assert response.status_code == 400 and "status" in response.json()["fields"]


def test_edit_body_only_while_draft(world, drafts):
    url = f"/api/v1/message-drafts/{drafts['a_sms'].id}/"
    response = world.a.patch(url, {"body": "  Happy birthday, Ana!  "})
    assert response.status_code == 200 and response.json()["body"] == "Happy birthday, Ana!"
    assert world.a.patch(url, {"body": ""}).json()["fields"].keys() == {"body"}
    response = world.a.patch(f"/api/v1/message-drafts/{drafts['a_sent'].id}/", {"body": "too late"})
    assert response.status_code == 409 and response.json()["code"] == "draft_state_conflict"
    assert world.a.put(url, {"body": "x"}).status_code == 405


def test_approve_queues_sending_on_commit_and_discard(world, drafts, django_capture_on_commit_callbacks, monkeypatch):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = world.a.post(f"/api/v1/message-drafts/{drafts['a_sms'].id}/approve/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved" and response.json()["approved_by"] == str(world.owner_a.id)
    assert len(callbacks) == 1
    # The service publishes the send task by its name (it does not import campaigns.tasks).
    published: list[tuple[str, tuple[str, ...]]] = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args: published.append((name, args)))
    callbacks[0]()
    assert published == [(send_message_draft.name, (str(world.tenant_a.id), str(drafts["a_sms"].id)))]
    # Approving again changes nothing and queues nothing.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert world.a.post(f"/api/v1/message-drafts/{drafts['a_sms'].id}/approve/").status_code == 200
    assert callbacks == []
    response = world.a.post(f"/api/v1/message-drafts/{drafts['a_email'].id}/discard/")
    assert response.json()["status"] == "discarded"
    assert world.a.post(f"/api/v1/message-drafts/{drafts['a_email'].id}/approve/").status_code == 409
    assert world.a.post(f"/api/v1/message-drafts/{drafts['a_sent'].id}/discard/").status_code == 409


def test_bulk_approve_ignores_other_tenants_ids(world, drafts, django_capture_on_commit_callbacks):
    ids = [str(drafts["a_sms"].id), str(drafts["b"].id), str(drafts["a_sent"].id), str(uuid.uuid4())]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = world.a.post("/api/v1/message-drafts/bulk-approve/", {"ids": ids})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["approved"] == [str(drafts["a_sms"].id)]
    assert body["not_found"] == 2 and str(drafts["b"].id) not in response.content.decode()
    assert body["not_approvable"] == [{"id": str(drafts["a_sent"].id), "status": "sent"}]
    assert len(callbacks) == 1
    assert status_of(world.tenant_b, drafts["b"]) == "draft"
    assert status_of(world.tenant_a, drafts["a_sms"]) == "approved"
    response = world.a.post("/api/v1/message-drafts/bulk-approve/", {"ids": ["not-a-uuid"]})
    assert response.status_code == 400 and response.json()["fields"].keys() == {"ids"}


def test_other_tenants_drafts_are_404_and_never_listed(world, drafts):
    b_url = f"/api/v1/message-drafts/{drafts['b'].id}/"
    assert world.a.get(b_url).status_code == 404
    assert world.a.patch(b_url, {"body": "hijack"}).status_code == 404
    assert world.a.post(b_url + "approve/").status_code == 404
    assert world.a.post(b_url + "discard/").status_code == 404
    assert "B's secret wish" not in world.a.get("/api/v1/message-drafts/").content.decode()
    assert status_of(world.tenant_b, drafts["b"]) == "draft"
    with tenant_context(world.tenant_b.id, role="system"):
        assert MessageDraft.objects.get(id=drafts["b"].id).body == "B's secret wish"


def test_viewer_reads_but_cannot_change_drafts(world, drafts):
    viewer = world.client(world.viewer_a, world.tenant_a)
    url = f"/api/v1/message-drafts/{drafts['a_sms'].id}/"
    assert viewer.get(url).status_code == 200
    assert viewer.patch(url, {"body": "x"}).status_code == 403
    assert viewer.post(url + "approve/").status_code == 403
    assert viewer.post(url + "discard/").status_code == 403
    assert viewer.post("/api/v1/message-drafts/bulk-approve/", {"ids": [str(drafts["a_sms"].id)]}).status_code == 403
    staff = world.client(world.staff_a, world.tenant_a)
    assert staff.post(url + "approve/").status_code == 200
