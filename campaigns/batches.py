"""The birthday batch's runner: what the worker does with a queued batch job (the job is
started by services.birthday_batch_start). Plans the window in one short transaction, then per
batch of clients: generates the messages with no transaction open (an LLM may take seconds),
then writes the drafts and the job's progress in one short transaction."""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded

from campaigns.generators import MessageGenerator, MessageRequest, message_generator
from campaigns.models import Channel, MessageDraft, Occasion
from campaigns.services import campaign_settings_get
from clients import consent
from clients.selectors import birthdays_upcoming
from tenants import jobs
from tenants.context import tenant_context
from tenants.models import BackgroundJob, Tenant

logger = logging.getLogger(__name__)

BATCH_SIZE = 50


@dataclass
class _Candidate:
    client_id: uuid.UUID
    occasion_date: datetime.date
    request: MessageRequest


@dataclass
class _Plan:
    candidates: list[_Candidate] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def _skip_reason(client, channel: str) -> str | None:
    if not consent.allows(client, channel):
        return f"no_{channel}_consent"
    if channel == Channel.EMAIL:
        if not client.email:
            return "no_email_address"
    else:
        if not client.phone:
            return "no_phone_number"
    return None


def _plan_batch(*, tenant: Tenant, start: datetime.date, days_ahead: int, channel: str) -> _Plan:
    """Inside the tenant context: who gets a draft, who is skipped and why."""
    template = campaign_settings_get(tenant=tenant).birthday_template
    plan = _Plan()
    for upcoming in birthdays_upcoming(start=start, days_ahead=days_ahead):
        client = upcoming.client
        reason = _skip_reason(client, channel)
        if reason:
            plan.skipped.append({"client_id": str(client.id), "reason": reason})
            continue
        plan.candidates.append(
            _Candidate(
                client_id=client.id,
                occasion_date=upcoming.date,
                request=MessageRequest(
                    first_name=client.first_name,
                    last_name=client.last_name,
                    business_name=tenant.name,
                    occasion_date=upcoming.date,
                    channel=channel,
                    template=template,
                ),
            )
        )
    return plan


def _chunks(items: list, size: int):
    for index in range(0, len(items), size):
        yield items[index : index + size]


def birthday_batch_run(*, tenant_id: uuid.UUID, job_id: uuid.UUID, generator: MessageGenerator | None = None) -> None:
    """Create the drafts of one birthday batch job.

    Idempotent: every draft is inserted ON CONFLICT DO NOTHING against the unique key
    (tenant, client, occasion, occasion_date), and drafts that already exist are not even
    generated again. A rerun, a redelivered task that died half-way, or a second job for the
    same window creates nothing twice. Drafts this same job wrote in an earlier, interrupted
    attempt count as `created` again, so a retried job reports what a clean run would.

    Transactions: a short one to plan, then per batch: generate with no transaction open
    (the LLM may take seconds), then one short transaction to write and report progress.
    """
    generator = generator or message_generator()
    with tenant_context(tenant_id, role="system"):
        # A redelivery of a job that died mid-way counts this attempt from zero (restart).
        job = jobs.job_start(job_id=job_id, restart=True)
        if job is None:
            return  # finished or canceled already: a duplicate delivery has nothing to do

    try:
        with tenant_context(tenant_id, role="system"):
            tenant = Tenant.objects.get(id=tenant_id)
            channel = job.params["channel"]
            plan = _plan_batch(
                tenant=tenant,
                start=datetime.date.fromisoformat(job.params["from"]),
                days_ahead=int(job.params["days_ahead"]),
                channel=channel,
            )
            jobs.job_set_total(job_id=job_id, total=len(plan.candidates) + len(plan.skipped))
            skip_counts: dict[str, int] = {"skipped": len(plan.skipped)}
            for item in plan.skipped:
                skip_counts[f"skipped_{item['reason']}"] = skip_counts.get(f"skipped_{item['reason']}", 0) + 1
            jobs.job_advance(job_id=job_id, done=len(plan.skipped), counts=skip_counts, errors=plan.skipped)

        for chunk in _chunks(plan.candidates, BATCH_SIZE):
            with tenant_context(tenant_id, role="system"):
                if jobs.job_is_canceled(job_id=job_id):
                    return
                existing = _existing_drafts(chunk)
            counts, errors, drafts = {"created": 0, "already_existed": 0, "failed": 0}, [], []
            for candidate in chunk:  # no transaction is open here
                owner_job = existing.get((candidate.client_id, candidate.occasion_date), "absent")
                if owner_job != "absent":
                    counts["created" if owner_job == job_id else "already_existed"] += 1
                    continue
                try:
                    message = generator.generate(candidate.request)
                except SoftTimeLimitExceeded:
                    raise  # the task is out of time: stop, do not count it as one bad message
                except Exception:  # noqa: BLE001 - one bad message must not sink the batch
                    logger.exception("generating a birthday message failed (job %s)", job_id)
                    counts["failed"] += 1
                    errors.append({"client_id": str(candidate.client_id), "reason": "generation_failed"})
                    continue
                drafts.append(
                    MessageDraft(
                        id=uuid.uuid4(),
                        tenant_id=tenant_id,
                        client_id=candidate.client_id,
                        channel=channel,
                        occasion=Occasion.BIRTHDAY,
                        occasion_date=candidate.occasion_date,
                        body=message.body,
                        generator=message.generator,
                        generator_fallback=message.fallback,
                        generator_fallback_reason=message.fallback_reason,
                        job_id=job_id,
                    )
                )
            with tenant_context(tenant_id, role="system"):
                if drafts:
                    MessageDraft.objects.bulk_create(drafts, ignore_conflicts=True)
                    # ON CONFLICT DO NOTHING does not say which rows went in: our fresh ids
                    # that exist now are ours; the rest lost a race to another run.
                    inserted = set(
                        MessageDraft.objects.filter(id__in=[d.id for d in drafts]).values_list("id", flat=True)
                    )
                    counts["created"] += len(inserted)
                    counts["already_existed"] += len(drafts) - len(inserted)
                jobs.job_advance(job_id=job_id, done=len(chunk), counts=counts, errors=errors)
    except Exception:
        logger.exception("birthday batch %s failed", job_id)
        with tenant_context(tenant_id, role="system"):
            jobs.job_finish(
                job_id=job_id, failure_reason="The batch stopped on an unexpected error; drafts made so far are kept."
            )
        raise
    with tenant_context(tenant_id, role="system"):
        job = BackgroundJob.objects.get(id=job_id)
        jobs.job_finish(job_id=job_id, result={"counts": job.counts})


def _existing_drafts(chunk: list[_Candidate]) -> dict[tuple[uuid.UUID, datetime.date], uuid.UUID | None]:
    rows = MessageDraft.objects.filter(
        occasion=Occasion.BIRTHDAY,
        client_id__in=[c.client_id for c in chunk],
        occasion_date__in={c.occasion_date for c in chunk},
    ).values_list("client_id", "occasion_date", "job_id")
    return {(client_id, date): job_id for client_id, date, job_id in rows}
