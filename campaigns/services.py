"""Every change to campaign data: settings, birthday batches, drafts and their approval."""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.utils import timezone

from brandvx.errors import BrandVXError, InvalidParameter
from campaigns.generators import MessageGenerator, MessageRequest, message_generator
from campaigns.models import MAX_DAYS_AHEAD, CampaignSettings, Channel, MessageDraft, Occasion
from campaigns.templates_text import template_errors
from clients import consent
from clients.selectors import birthdays_upcoming
from tenants import jobs
from tenants.changes import record_change, record_changes
from tenants.context import require_tenant, tenant_context
from tenants.models import BackgroundJob, Tenant, User

logger = logging.getLogger(__name__)

BIRTHDAY_BATCH_KIND = "campaigns.birthday_batch"
# Drafts generated (maybe by an LLM, outside any transaction) and written per round trip.
BATCH_SIZE = 50
MAX_BODY_LENGTH = {Channel.SMS: 1600, Channel.EMAIL: 10_000}
MAX_BULK_IDS = 500

Status = MessageDraft.Status


class DraftStateConflict(BrandVXError):
    status_code = 409
    code = "draft_state_conflict"
    default_detail = "The draft is not in a state that allows this."


# --- settings ----------------------------------------------------------------------------


def campaign_settings_get(*, tenant: Tenant) -> CampaignSettings:
    """The tenant's settings; an unsaved default row when it never changed them."""
    require_tenant(tenant)
    found = CampaignSettings.objects.filter(tenant_id=tenant.id).first()
    return found or CampaignSettings(tenant=tenant)


SENDER_SECRET_FIELDS = ("twilio_account_sid", "twilio_auth_token")


def campaign_settings_update(*, tenant: Tenant, changes: dict, acting_user: User) -> CampaignSettings:
    """Apply validated changes. Secrets are merged into the encrypted field (a blank value
    removes one); the template is checked here so no path can store an unrenderable one."""
    require_tenant(tenant)
    if "birthday_template" in changes:
        errors = template_errors(changes["birthday_template"])
        if errors:
            raise InvalidParameter("birthday_template", " ".join(errors))
    with transaction.atomic():
        current, _ = CampaignSettings.objects.select_for_update().get_or_create(tenant=tenant)
        credentials = dict(current.sender_credentials or {})
        for name, value in changes.items():
            if name in SENDER_SECRET_FIELDS:
                if value:
                    credentials[name] = value
                else:
                    credentials.pop(name, None)
            else:
                setattr(current, name, value)
        current.sender_credentials = credentials
        current.save()
        record_change(tenant=tenant, actor=acting_user, action="campaign_settings.updated", obj=current, fields=changes)
    return current


# --- birthday batches --------------------------------------------------------------------


def birthday_batch_start(
    *,
    tenant: Tenant,
    acting_user: User | None,
    days_ahead: int,
    start: datetime.date | None = None,
    channel: str | None = None,
    scheduled: bool = False,
) -> BackgroundJob:
    """Queue a batch. The window is fixed now (start defaults to the tenant's today), so a
    retry tomorrow covers the same birthdays; the task is enqueued after commit."""
    require_tenant(tenant)
    if not 0 <= days_ahead <= MAX_DAYS_AHEAD:
        raise InvalidParameter("days_ahead", f"must be between 0 and {MAX_DAYS_AHEAD}")
    if channel is None:
        channel = campaign_settings_get(tenant=tenant).default_channel
    if channel not in Channel.values:
        raise InvalidParameter("channel", f"must be one of {', '.join(Channel.values)}")
    start = start or tenant.today()
    params = {"days_ahead": days_ahead, "from": start.isoformat(), "channel": channel, "scheduled": scheduled}

    def enqueue(job: BackgroundJob) -> None:
        from campaigns.tasks import birthday_batch

        birthday_batch.delay(str(tenant.id), str(job.id))

    return jobs.job_create(
        tenant=tenant, kind=BIRTHDAY_BATCH_KIND, params=params, started_by=acting_user, enqueue=enqueue
    )


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


# --- drafts ------------------------------------------------------------------------------


def _locked_draft(draft_id: uuid.UUID) -> MessageDraft:
    # RLS and the tenant filter of the caller's context: another tenant's id is "not found".
    draft = MessageDraft.objects.select_for_update().filter(id=draft_id).first()
    if draft is None:
        from rest_framework.exceptions import NotFound

        raise NotFound()
    return draft


def draft_update_body(*, tenant: Tenant, draft_id: uuid.UUID, body: str, acting_user: User) -> MessageDraft:
    require_tenant(tenant)
    body = (body or "").strip()
    with transaction.atomic():
        draft = _locked_draft(draft_id)
        if draft.status != Status.DRAFT:
            raise DraftStateConflict(f"Only drafts can be edited; this one is {draft.status}.")
        limit = MAX_BODY_LENGTH[draft.channel]
        if not body:
            raise InvalidParameter("body", "may not be blank")
        if len(body) > limit:
            raise InvalidParameter("body", f"is longer than {limit} characters for {draft.channel}")
        draft.body = body
        draft.save(update_fields=["body", "updated_at"])
        record_change(tenant=tenant, actor=acting_user, action="draft.edited", obj=draft, fields=["body"])
    return draft


def _enqueue_send(tenant_id: uuid.UUID, draft_ids: list[uuid.UUID]) -> None:
    from campaigns.tasks import send_message_draft

    for draft_id in draft_ids:
        send_message_draft.delay(str(tenant_id), str(draft_id))


def draft_approve(*, tenant: Tenant, draft_id: uuid.UUID, acting_user: User) -> MessageDraft:
    """Approve and queue for sending (after commit). Approving an approved draft is a no-op."""
    require_tenant(tenant)
    with transaction.atomic():
        draft = _locked_draft(draft_id)
        if draft.status == Status.APPROVED:
            return draft
        if draft.status != Status.DRAFT:
            raise DraftStateConflict(f"Only drafts can be approved; this one is {draft.status}.")
        draft.status, draft.approved_by, draft.approved_at = Status.APPROVED, acting_user, timezone.now()
        draft.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
        record_change(tenant=tenant, actor=acting_user, action="draft.approved", obj=draft, fields=["status"])
        transaction.on_commit(lambda: _enqueue_send(tenant.id, [draft.id]))
    return draft


def drafts_bulk_approve(*, tenant: Tenant, draft_ids: list[uuid.UUID], acting_user: User) -> dict:
    """Approve the listed drafts of this tenant that are still drafts. Ids that are not this
    tenant's drafts are never touched and only counted (`not_found`): echoing them back would
    make a foreign id look like something this tenant has."""
    require_tenant(tenant)
    if len(draft_ids) > MAX_BULK_IDS:
        raise InvalidParameter("ids", f"at most {MAX_BULK_IDS} ids per request")
    wanted = list(dict.fromkeys(draft_ids))
    with transaction.atomic():
        found = {d.id: d for d in MessageDraft.objects.select_for_update().filter(tenant_id=tenant.id, id__in=wanted)}
        approvable = [draft_id for draft_id in wanted if draft_id in found and found[draft_id].status == Status.DRAFT]
        MessageDraft.objects.filter(tenant_id=tenant.id, id__in=approvable, status=Status.DRAFT).update(
            status=Status.APPROVED, approved_by=acting_user, approved_at=timezone.now(), updated_at=timezone.now()
        )
        record_changes(
            tenant=tenant, actor=acting_user, action="draft.approved", object_type="messagedraft", object_ids=approvable
        )
        transaction.on_commit(lambda: _enqueue_send(tenant.id, approvable))
    return {
        "approved": approvable,
        "not_found": sum(1 for draft_id in wanted if draft_id not in found),
        "not_approvable": [
            {"id": draft_id, "status": found[draft_id].status}
            for draft_id in wanted
            if draft_id in found and found[draft_id].status != Status.DRAFT
        ],
    }


def draft_discard(*, tenant: Tenant, draft_id: uuid.UUID, acting_user: User) -> MessageDraft:
    """Drop a draft (or an approved one not yet picked up by the sender)."""
    require_tenant(tenant)
    with transaction.atomic():
        draft = _locked_draft(draft_id)
        if draft.status == Status.DISCARDED:
            return draft
        if draft.status not in (Status.DRAFT, Status.APPROVED, Status.FAILED):
            raise DraftStateConflict(f"A {draft.status} message can no longer be discarded.")
        draft.status = Status.DISCARDED
        draft.save(update_fields=["status", "updated_at"])
        record_change(tenant=tenant, actor=acting_user, action="draft.discarded", obj=draft, fields=["status"])
    return draft
