"""Birthday batches: who gets a draft, who is skipped, and why running twice is harmless."""

from __future__ import annotations

import datetime

import pytest

from campaigns.batches import birthday_batch_run
from campaigns.generators import TemplateGenerator
from campaigns.models import MessageDraft
from campaigns.services import BIRTHDAY_BATCH_KIND, birthday_batch_start
from campaigns.tests.factories import make_client, make_settings
from tenants import jobs
from tenants.context import tenant_context
from tenants.models import BackgroundJob

START = datetime.date(2026, 3, 1)


def start_job(tenant, owner, *, channel="sms", days_ahead=7, start=START) -> BackgroundJob:
    with tenant_context(tenant.id, role="owner_admin", user_id=owner.id):
        return birthday_batch_start(
            tenant=tenant, acting_user=owner, days_ahead=days_ahead, start=start, channel=channel
        )


def job_of(tenant, job_id) -> BackgroundJob:
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.get(id=job_id)


def drafts_of(tenant) -> list[MessageDraft]:
    with tenant_context(tenant.id, role="system"):
        return list(MessageDraft.objects.order_by("occasion_date", "client__last_name"))


class CrashingGenerator:
    """Writes `good` messages, then dies like a killed worker (not an ordinary exception)."""

    name = "template"

    def __init__(self, good: int):
        self.good = good
        self.inner = TemplateGenerator()

    def generate(self, request):
        if self.good == 0:
            raise SystemExit("worker killed")
        self.good -= 1
        return self.inner.generate(request)


@pytest.fixture
def birthdays(world):
    """Tenant A: 4 clients who can get an SMS, 3 who cannot, 1 outside the window."""
    tenant = world.tenant_a
    make_settings(tenant, birthday_template="Happy birthday {first_name}, from {business_name}!")
    ok = [make_client(tenant, birthday=(3, day), first_name=f"Ok{day}") for day in (2, 3, 4, 5)]
    no_consent = make_client(tenant, birthday=(3, 2), sms_consent=False)
    no_phone = make_client(tenant, birthday=(3, 3), phone="")
    email_only = make_client(tenant, birthday=(3, 4), sms_consent=False, phone="")
    later = make_client(tenant, birthday=(4, 20))
    return {"ok": ok, "no_consent": no_consent, "no_phone": no_phone, "email_only": email_only, "later": later}


def test_batch_creates_drafts_and_skips_with_reasons(world, birthdays):
    job = start_job(world.tenant_a, world.owner_a)
    assert job.kind == BIRTHDAY_BATCH_KIND and job.params["from"] == "2026-03-01"
    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=job.id)

    job = job_of(world.tenant_a, job.id)
    assert job.status == "succeeded"
    assert job.counts == {
        "created": 4,
        "already_existed": 0,
        "failed": 0,
        "skipped": 3,
        "skipped_no_sms_consent": 2,
        "skipped_no_phone_number": 1,
    }
    assert (job.progress_total, job.progress_done) == (7, 7)
    skipped = {e["client_id"]: e["reason"] for e in job.errors}
    assert skipped == {
        str(birthdays["no_consent"].id): "no_sms_consent",
        str(birthdays["no_phone"].id): "no_phone_number",
        str(birthdays["email_only"].id): "no_sms_consent",
    }
    drafts = drafts_of(world.tenant_a)
    assert {d.client_id for d in drafts} == {c.id for c in birthdays["ok"]}
    first = drafts[0]
    assert first.body == "Happy birthday Ok2, from Salon A!"
    assert (first.status, first.channel, first.occasion, first.occasion_date) == (
        "draft",
        "sms",
        "birthday",
        datetime.date(2026, 3, 2),
    )
    assert first.job_id == job.id and first.generator == "template" and not first.generator_fallback


def test_email_batch_skips_clients_without_email_consent_or_address(world):
    tenant = world.tenant_a
    yes = make_client(tenant, birthday=(3, 2), sms_consent=False, phone="")
    make_client(tenant, birthday=(3, 2), email_consent=False)
    make_client(tenant, birthday=(3, 2), email="")
    job = start_job(tenant, world.owner_a, channel="email")
    birthday_batch_run(tenant_id=tenant.id, job_id=job.id)
    job = job_of(tenant, job.id)
    assert job.counts["created"] == 1 and job.counts["skipped"] == 2
    assert job.counts["skipped_no_email_consent"] == 1 and job.counts["skipped_no_email_address"] == 1
    assert [d.client_id for d in drafts_of(tenant)] == [yes.id]


def test_a_second_batch_for_the_same_window_creates_nothing(world, birthdays):
    first = start_job(world.tenant_a, world.owner_a)
    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=first.id)
    second = start_job(world.tenant_a, world.owner_a)
    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=second.id)

    assert len(drafts_of(world.tenant_a)) == 4
    counts = job_of(world.tenant_a, second.id).counts
    assert counts["created"] == 0 and counts["already_existed"] == 4
    # A redelivered task of a finished job does nothing at all.
    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=first.id)
    assert len(drafts_of(world.tenant_a)) == 4
    assert job_of(world.tenant_a, first.id).counts["created"] == 4


def test_a_retry_after_dying_mid_way_completes_without_duplicates(world, birthdays, monkeypatch):
    monkeypatch.setattr("campaigns.batches.BATCH_SIZE", 2)
    job = start_job(world.tenant_a, world.owner_a)
    with pytest.raises(SystemExit):
        birthday_batch_run(tenant_id=world.tenant_a.id, job_id=job.id, generator=CrashingGenerator(good=3))
    # Chunks of 2 clients (in id order, so how many drafts each holds varies): the chunks
    # before the one that died are committed, with their progress; the dying one left nothing.
    died = job_of(world.tenant_a, job.id)
    assert died.status == "running" and died.progress_done < 7
    assert len(drafts_of(world.tenant_a)) == died.counts.get("created", 0) < 4

    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=job.id)  # the redelivery
    drafts = drafts_of(world.tenant_a)
    assert len(drafts) == 4 and len({(d.client_id, d.occasion_date) for d in drafts}) == 4
    job = job_of(world.tenant_a, job.id)
    assert job.status == "succeeded"
    # Counted as a clean run would be: the drafts of the first attempt are this job's own.
    assert job.counts["created"] == 4 and job.counts["already_existed"] == 0 and job.progress_done == 7


def test_a_canceled_job_stops_between_batches(world, birthdays, monkeypatch):
    monkeypatch.setattr("campaigns.batches.BATCH_SIZE", 2)
    job = start_job(world.tenant_a, world.owner_a)

    class CancelAfterFirstBatch(TemplateGenerator):
        calls = 0

        def generate(self, request):
            CancelAfterFirstBatch.calls += 1
            if CancelAfterFirstBatch.calls == 2:
                with tenant_context(world.tenant_a.id, role="system"):
                    jobs.job_cancel(job_id=job.id)
            return super().generate(request)

    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=job.id, generator=CancelAfterFirstBatch())
    # The chunk in flight when the cancel came is kept (2 or 3 drafts, as the clients fall in
    # chunks of 2); no chunk after it ran.
    canceled = job_of(world.tenant_a, job.id)
    assert canceled.status == "canceled"
    assert 2 <= len(drafts_of(world.tenant_a)) == canceled.counts["created"] < 4
    assert canceled.progress_done < 7


def test_jobs_and_drafts_stay_in_their_tenant(world, birthdays):
    b_client = make_client(world.tenant_b, birthday=(3, 3))
    job_a = start_job(world.tenant_a, world.owner_a)
    job_b = start_job(world.tenant_b, world.owner_b)
    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=job_a.id)
    birthday_batch_run(tenant_id=world.tenant_b.id, job_id=job_b.id)

    assert [d.client_id for d in drafts_of(world.tenant_b)] == [b_client.id]
    assert len(drafts_of(world.tenant_a)) == 4
    # Running A's job id under B's tenant finds no job (RLS): nothing happens.
    birthday_batch_run(tenant_id=world.tenant_b.id, job_id=job_a.id)
    assert len(drafts_of(world.tenant_b)) == 1
    assert job_of(world.tenant_b, job_b.id).counts["created"] == 1

    # Through the API: B sees neither A's job nor A's drafts.
    assert world.b.get(f"/api/v1/jobs/{job_a.id}/").status_code == 404
    listed = world.b.get("/api/v1/message-drafts/").json()["results"]
    assert [d["client"]["id"] for d in listed] == [str(b_client.id)]
    assert world.a.get(f"/api/v1/jobs/{job_a.id}/").json()["counts"]["created"] == 4


def test_one_message_that_cannot_be_generated_is_counted_as_failed(world, birthdays):
    class FailsForOk3(TemplateGenerator):
        def generate(self, request):
            if request.first_name == "Ok3":
                raise ValueError("nope")
            return super().generate(request)

    job = start_job(world.tenant_a, world.owner_a)
    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=job.id, generator=FailsForOk3())
    job = job_of(world.tenant_a, job.id)
    assert job.status == "succeeded" and job.counts["created"] == 3 and job.counts["failed"] == 1
    assert {"client_id": str(birthdays["ok"][1].id), "reason": "generation_failed"} in job.errors


def test_an_unexpected_error_fails_the_job_instead_of_leaving_it_running(world):
    with tenant_context(world.tenant_a.id, role="system"):
        job = jobs.job_create(
            tenant=world.tenant_a,
            kind=BIRTHDAY_BATCH_KIND,
            params={"days_ahead": 7, "from": "not-a-date", "channel": "sms"},
        )
    with pytest.raises(ValueError):
        birthday_batch_run(tenant_id=world.tenant_a.id, job_id=job.id)
    job = job_of(world.tenant_a, job.id)
    assert job.status == "failed" and "unexpected error" in job.failure_reason
