"""The birthday batch's runner: what the worker does with a queued batch job (the job is
started by services.birthday_batch_start). The job runs in chunks (tenants.jobs): each chunk
reads the next page of the window's clients (in client id order) in one short transaction,
generates their messages with no transaction open (an LLM may take seconds), and returns the
drafts, which tenants.jobs writes in the transaction that saves the job's progress and the
page's end as its checkpoint."""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from campaigns.generators import MessageGenerator, MessageRequest, message_generator
from campaigns.models import Channel, MessageDraft, Occasion
from campaigns.services import campaign_settings_get
from clients.models import Client
from clients.rules import consent_allows
from clients.selectors import UpcomingBirthday, birthdays_upcoming_count, birthdays_upcoming_page
from tenants import jobs
from tenants.context import tenant_context
from tenants.models import BackgroundJob, Tenant

logger = logging.getLogger(__name__)

# Clients per chunk; None: JOB_CHUNK_SIZE. (Tests make it small to see several chunks.)
BATCH_SIZE: int | None = None


def _skip_reason(client: Client, channel: str) -> str | None:
    if not consent_allows(client, channel):
        return f"no_{channel}_consent"
    if channel == Channel.EMAIL:
        if not client.email:
            return "no_email_address"
    else:
        if not client.phone:
            return "no_phone_number"
    return None


def birthday_batch_step(generator: MessageGenerator | None = None) -> jobs.ChunkStep:
    """The chunk step of a birthday batch job (tenants.jobs.ChunkStep).

    Idempotent: every draft is inserted ON CONFLICT DO NOTHING against the unique key
    (tenant, client, occasion, occasion_date), and drafts that already exist are not even
    generated again. A redelivered chunk (its worker died before its commit) is redone from
    the same checkpoint; drafts it wrote count as `created` again, so the job reports what a
    clean run would. A second job for the same window creates nothing twice.
    """

    def step(job: BackgroundJob, cursor: Any) -> jobs.Chunk:
        tenant_id, job_id = job.tenant_id, job.id
        channel = job.params["channel"]
        start = datetime.date.fromisoformat(job.params["from"])
        days_ahead = int(job.params["days_ahead"])
        after_id = uuid.UUID(cursor["after"]) if cursor and cursor.get("after") else None
        make = generator or message_generator()
        with tenant_context(tenant_id, role="system"):
            tenant = Tenant.objects.get(id=tenant_id)
            template = campaign_settings_get(tenant=tenant).birthday_template
            total = (
                birthdays_upcoming_count(tenant=tenant, start=start, days_ahead=days_ahead) if cursor is None else None
            )
            page = birthdays_upcoming_page(
                tenant=tenant,
                start=start,
                days_ahead=days_ahead,
                after_id=after_id,
                size=BATCH_SIZE or settings.JOB_CHUNK_SIZE,
            )
            candidates, skipped = [], []
            for upcoming in page.birthdays:
                reason = _skip_reason(upcoming.client, channel)
                if reason:
                    skipped.append({"client_id": str(upcoming.client.id), "reason": reason})
                else:
                    candidates.append(upcoming)
            existing = _existing_drafts(candidates)
        counts: dict[str, int] = {"created": 0, "already_existed": 0, "failed": 0, "skipped": len(skipped)}
        for item in skipped:
            counts[f"skipped_{item['reason']}"] = counts.get(f"skipped_{item['reason']}", 0) + 1
        errors: list[dict[str, Any]] = list(skipped)
        drafts = []
        for upcoming in candidates:  # no transaction is open here
            client = upcoming.client
            owner_job = existing.get((client.id, upcoming.date), "absent")
            if owner_job != "absent":
                counts["created" if owner_job == job_id else "already_existed"] += 1
                continue
            request = MessageRequest(
                first_name=client.first_name,
                last_name=client.last_name,
                business_name=tenant.name,
                occasion_date=upcoming.date,
                channel=channel,
                template=template,
            )
            try:
                message = make.generate(request)
            except SoftTimeLimitExceeded:
                raise  # the task is out of time: stop, do not count it as one bad message
            except Exception:  # noqa: BLE001 - one bad message must not sink the batch
                logger.exception("generating a birthday message failed (job %s)", job_id)
                counts["failed"] += 1
                errors.append({"client_id": str(client.id), "reason": "generation_failed"})
                continue
            drafts.append(
                MessageDraft(
                    id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    client_id=client.id,
                    channel=channel,
                    occasion=Occasion.BIRTHDAY,
                    occasion_date=upcoming.date,
                    body=message.body,
                    generator=message.generator,
                    generator_fallback=message.fallback,
                    generator_fallback_reason=message.fallback_reason,
                    job_id=job_id,
                )
            )

        def write() -> None:
            if not drafts:
                return
            MessageDraft.objects.bulk_create(drafts, ignore_conflicts=True)
            # ON CONFLICT DO NOTHING does not say which rows went in: our fresh ids that exist
            # now are ours; the rest lost a race to another run.
            inserted = set(MessageDraft.objects.filter(id__in=[d.id for d in drafts]).values_list("id", flat=True))
            counts["created"] += len(inserted)
            counts["already_existed"] += len(drafts) - len(inserted)

        return jobs.Chunk(
            done=page.scanned,
            counts=counts,
            errors=errors,
            cursor={"after": str(page.after_id)} if page.after_id else None,
            finished=page.after_id is None,
            total=total,
            write=write,
        )

    return step


def birthday_batch_run(*, tenant_id: uuid.UUID, job_id: uuid.UUID, generator: MessageGenerator | None = None) -> str:
    """Run a whole birthday batch job in this process, chunk after chunk (tests, the
    benchmark). Workers run it one chunk per task (campaigns.tasks.birthday_batch)."""
    return jobs.job_run_all_chunks(tenant_id=tenant_id, job_id=job_id, step=birthday_batch_step(generator))


def _existing_drafts(chunk: list[UpcomingBirthday]) -> dict[tuple[uuid.UUID, datetime.date], uuid.UUID | None]:
    rows = MessageDraft.objects.filter(
        occasion=Occasion.BIRTHDAY,
        client_id__in=[c.client.id for c in chunk],
        occasion_date__in={c.date for c in chunk},
    ).values_list("client_id", "occasion_date", "job_id")
    return {(client_id, date): job_id for client_id, date, job_id in rows}
