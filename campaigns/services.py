"""Every change to campaign data: settings, birthday batches, drafts and their approval."""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import Any, TypedDict

from celery import current_app
from django.db import transaction
from django.utils import timezone

from campaigns.models import BIRTHDAYS_MAX_DAYS_AHEAD, CampaignSettings, Channel, MessageDraft
from campaigns.quiet_hours import sms_wait_until
from campaigns.rules import BIRTHDAY_BATCH_TASK, MAX_BODY_LENGTH, MAX_BULK_IDS, SEND_MESSAGE_DRAFT_TASK
from campaigns.templates_text import template_errors
from common.errors import Conflict, InvalidInput
from tenants import jobs
from tenants.changes import record_change, record_changes
from tenants.context import require_tenant
from tenants.models import BackgroundJob, Tenant, User, for_tenant, get_in_tenant

logger = logging.getLogger(__name__)

BIRTHDAY_BATCH_KIND = "campaigns.birthday_batch"

Status = MessageDraft.Status


class DraftStateConflict(Conflict):
    code = "draft_state_conflict"
    default_detail = "The draft is not in a state that allows this."


def _enqueue(task_name: str, *args: str) -> None:
    """Publish a campaigns task by its name (campaigns.rules; routed by name, CELERY_TASK_ROUTES):
    this module never imports campaigns.tasks, which imports the runners, which import this
    module, and a web process need not have imported the tasks at all. Called after commit
    (transaction.on_commit, tenants.jobs)."""
    current_app.send_task(task_name, args=args)


# --- settings ----------------------------------------------------------------------------


def campaign_settings_get(*, tenant: Tenant) -> CampaignSettings:
    """The tenant's settings; an unsaved default row when it never changed them."""
    require_tenant(tenant)
    found = for_tenant(CampaignSettings.objects.all(), tenant).first()
    return found or CampaignSettings(tenant=tenant)


SENDER_SECRET_FIELDS = ("twilio_account_sid", "twilio_auth_token")


def campaign_settings_update(*, tenant: Tenant, changes: dict[str, Any], acting_user: User) -> CampaignSettings:
    """Apply validated changes. Secrets are merged into the encrypted field (a blank value
    removes one); the template is checked here so no path can store an unrenderable one."""
    require_tenant(tenant)
    if "birthday_template" in changes:
        errors = template_errors(changes["birthday_template"])
        if errors:
            raise InvalidInput("birthday_template", " ".join(errors))
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
    if not 0 <= days_ahead <= BIRTHDAYS_MAX_DAYS_AHEAD:
        raise InvalidInput("days_ahead", f"must be between 0 and {BIRTHDAYS_MAX_DAYS_AHEAD}")
    if channel is None:
        channel = campaign_settings_get(tenant=tenant).default_channel
    if channel not in Channel.values:
        raise InvalidInput("channel", f"must be one of {', '.join(Channel.values)}")
    start = start or tenant.today()
    params = {"days_ahead": days_ahead, "from": start.isoformat(), "channel": channel, "scheduled": scheduled}
    return jobs.job_create(
        tenant=tenant,
        kind=BIRTHDAY_BATCH_KIND,
        params=params,
        started_by=acting_user,
        enqueue=jobs.task_by_name(BIRTHDAY_BATCH_TASK),  # at the tenant's bulk priority
    )


# --- drafts ------------------------------------------------------------------------------


def draft_update_body(*, tenant: Tenant, draft_id: uuid.UUID, body: str, acting_user: User) -> MessageDraft:
    require_tenant(tenant)
    body = (body or "").strip()
    with transaction.atomic():
        draft = get_in_tenant(MessageDraft, draft_id, tenant=tenant, lock=True)
        if draft.status != Status.DRAFT:
            raise DraftStateConflict(message=f"Only drafts can be edited; this one is {draft.status}.")
        limit = MAX_BODY_LENGTH[draft.channel]
        if not body:
            raise InvalidInput("body", "may not be blank")
        if len(body) > limit:
            raise InvalidInput("body", f"is longer than {limit} characters for {draft.channel}")
        draft.body = body
        draft.save(update_fields=["body", "updated_at"])
        record_change(tenant=tenant, actor=acting_user, action="draft.edited", obj=draft, fields=["body"])
    return draft


def _enqueue_send(tenant_id: uuid.UUID, draft_ids: list[uuid.UUID]) -> None:
    for draft_id in draft_ids:
        _enqueue(SEND_MESSAGE_DRAFT_TASK, str(tenant_id), str(draft_id))


def _quiet_hours_wait(tenant: Tenant, channel: str) -> datetime.datetime | None:
    """When an SMS approved now may go out, if not now (quiet hours); e-mail is never deferred."""
    if channel != Channel.SMS:
        return None
    return sms_wait_until(campaign_settings_get(tenant=tenant), tenant, None)


def draft_approve(*, tenant: Tenant, draft_id: uuid.UUID, acting_user: User) -> MessageDraft:
    """Approve and queue for sending (after commit); an SMS outside the tenant's quiet-hours
    window gets `send_after` (its next start) and is queued then by campaigns.send_due_drafts.
    Approving an approved draft is a no-op."""
    require_tenant(tenant)
    with transaction.atomic():
        draft = get_in_tenant(MessageDraft, draft_id, tenant=tenant, lock=True)
        if draft.status == Status.APPROVED:
            return draft
        if draft.status != Status.DRAFT:
            raise DraftStateConflict(message=f"Only drafts can be approved; this one is {draft.status}.")
        draft.status, draft.approved_by, draft.approved_at = Status.APPROVED, acting_user, timezone.now()
        draft.send_after = _quiet_hours_wait(tenant, draft.channel)
        draft.save(update_fields=["status", "approved_by", "approved_at", "send_after", "updated_at"])
        record_change(tenant=tenant, actor=acting_user, action="draft.approved", obj=draft, fields=["status"])
        if draft.send_after is None:
            transaction.on_commit(lambda: _enqueue_send(tenant.id, [draft.id]))
    return draft


class NotApprovable(TypedDict):
    id: uuid.UUID
    status: str


class BulkApproval(TypedDict):
    approved: list[uuid.UUID]
    deferred: list[uuid.UUID]
    send_after: datetime.datetime | None
    not_found: int
    not_approvable: list[NotApprovable]


def drafts_bulk_approve(*, tenant: Tenant, draft_ids: list[uuid.UUID], acting_user: User) -> BulkApproval:
    """Approve the listed drafts of this tenant that are still drafts. Ids that are not this
    tenant's drafts are never touched and only counted (`not_found`): echoing them back would
    make a foreign id look like something this tenant has."""
    require_tenant(tenant)
    if len(draft_ids) > MAX_BULK_IDS:
        raise InvalidInput("ids", f"at most {MAX_BULK_IDS} ids per request")
    wanted = list(dict.fromkeys(draft_ids))
    with transaction.atomic():
        drafts = for_tenant(MessageDraft.objects.all(), tenant)
        found = {d.id: d for d in drafts.select_for_update().filter(id__in=wanted)}
        approvable = [draft_id for draft_id in wanted if draft_id in found and found[draft_id].status == Status.DRAFT]
        sms_wait = _quiet_hours_wait(tenant, Channel.SMS)
        deferred = [d for d in approvable if sms_wait is not None and found[d].channel == Channel.SMS]
        now_ids = [d for d in approvable if d not in set(deferred)]
        for ids, send_after in ((now_ids, None), (deferred, sms_wait)):
            drafts.filter(id__in=ids, status=Status.DRAFT).update(
                status=Status.APPROVED,
                approved_by=acting_user,
                approved_at=timezone.now(),
                send_after=send_after,
                updated_at=timezone.now(),
            )
        record_changes(
            tenant=tenant, actor=acting_user, action="draft.approved", object_type="messagedraft", object_ids=approvable
        )
        transaction.on_commit(lambda: _enqueue_send(tenant.id, now_ids))
    return {
        "approved": approvable,
        "deferred": deferred,
        "send_after": sms_wait if deferred else None,
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
        draft = get_in_tenant(MessageDraft, draft_id, tenant=tenant, lock=True)
        if draft.status == Status.DISCARDED:
            return draft
        if draft.status not in (Status.DRAFT, Status.APPROVED, Status.FAILED):
            raise DraftStateConflict(message=f"A {draft.status} message can no longer be discarded.")
        draft.status = Status.DISCARDED
        draft.save(update_fields=["status", "updated_at"])
        record_change(tenant=tenant, actor=acting_user, action="draft.discarded", obj=draft, fields=["status"])
    return draft
