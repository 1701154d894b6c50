"""What comes back after sending: Twilio's inbound replies (STOP/START/HELP) and status
callbacks, and the ESP's tracking events (django-anymail's normalized webhooks).

Twilio requests are verified with the tenant's own auth token (twilio's RequestValidator)
against PUBLIC_BASE_URL + the request's path, the URL Twilio was given, never the Host
header. Everything runs in the tenant's context: a number, a message sid or a draft id of
another tenant is simply not found (RLS).
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from anymail.signals import AnymailTrackingEvent
from django.conf import settings
from django.utils import timezone
from twilio.request_validator import RequestValidator

from campaigns.models import CampaignSettings, Channel, DeliveryStatus, MessageDraft
from campaigns.rules import ReplyAction, TrackingResult
from clients.models import Client, ConsentOrigin
from clients.services import client_consent_record
from tenants.context import tenant_context
from tenants.models import Tenant, for_tenant

logger = logging.getLogger(__name__)

# Twilio's documented keywords (any case, surrounding spaces ignored).
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

# Twilio's MessageStatus -> ours. Statuses before the final word stay `sent`.
TWILIO_STATUSES = {
    "accepted": DeliveryStatus.SENT,
    "scheduled": DeliveryStatus.SENT,
    "queued": DeliveryStatus.SENT,
    "sending": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
}
# A later word never gives way to an earlier one (callbacks can arrive out of order).
_RANK = {
    "": 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.UNDELIVERED: 2,
    DeliveryStatus.FAILED: 2,
    DeliveryStatus.BOUNCED: 3,
    DeliveryStatus.COMPLAINED: 4,
}


def twilio_signed_url(path_with_query: str) -> str:
    return settings.PUBLIC_BASE_URL + path_with_query


def twilio_auth_token(tenant_id: uuid.UUID) -> str:
    """The tenant's Twilio auth token ('' when it has none). Inside the tenant's context."""
    campaign = for_tenant(CampaignSettings.objects.all(), tenant_id).first()
    return str(((campaign.sender_credentials if campaign else None) or {}).get("twilio_auth_token") or "")


def twilio_signature_valid(*, auth_token: str, url: str, params: Mapping[str, Any], signature: str) -> bool:
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


@dataclass(frozen=True)
class Reply:
    action: ReplyAction
    clients: int  # clients of this tenant with that number
    business_name: str


def keyword_action(body: str) -> ReplyAction:
    word = (body or "").strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return ReplyAction.OPT_OUT
    if word in OPT_IN_KEYWORDS:
        return ReplyAction.OPT_IN
    if word in HELP_KEYWORDS:
        return ReplyAction.HELP
    return ReplyAction.NONE


def sms_reply_record(*, tenant_id: uuid.UUID, from_number: str, body: str) -> Reply:
    """A client's reply: STOP withdraws and START grants SMS consent (origin `sms_reply`)
    for every client of this tenant with that number. Inside the tenant's context."""
    tenant = Tenant.objects.get(id=tenant_id)
    action = keyword_action(body)
    matched = list(Client.objects.select_for_update().filter(phone=from_number)) if from_number else []
    if action in (ReplyAction.OPT_OUT, ReplyAction.OPT_IN):
        for client in matched:
            client_consent_record(
                tenant=tenant,
                client=client,
                decisions={Channel.SMS: action == ReplyAction.OPT_IN},
                origin=ConsentOrigin.SMS_REPLY,
                provider="twilio",
            )
    return Reply(action, len(matched), tenant.name)


def _apply_status(draft: MessageDraft, status: str, at: datetime.datetime | None = None) -> bool:
    """Set the draft's delivery status unless it already knows a later word."""
    if _RANK.get(status, 0) <= _RANK.get(draft.delivery_status, 0):
        return False
    draft.delivery_status = status
    fields = ["delivery_status", "updated_at"]
    if status == DeliveryStatus.DELIVERED:
        draft.delivered_at = at or timezone.now()
        fields.append("delivered_at")
    draft.save(update_fields=fields)
    return True


def sms_status_record(*, message_sid: str, twilio_status: str, to: str = "") -> int:
    """A Twilio status callback: the draft sent as `message_sid` (to `to`) takes the status.
    Returns how many drafts changed. Inside the tenant's context."""
    status = TWILIO_STATUSES.get((twilio_status or "").lower())
    if not message_sid or status is None:
        return 0
    drafts = MessageDraft.objects.select_for_update().filter(
        provider_message_id=message_sid, channel=Channel.SMS, status=MessageDraft.Status.SENT
    )
    return sum(1 for draft in drafts if (not to or draft.recipient == to) and _apply_status(draft, status))


# --- e-mail: django-anymail's normalized tracking events -----------------------------------

# anymail event type -> (our delivery status, the consent origin that withdraws e-mail)
EMAIL_EVENTS = {
    "delivered": (DeliveryStatus.DELIVERED, None),
    "bounced": (DeliveryStatus.BOUNCED, ConsentOrigin.PROVIDER_BOUNCE),
    "complained": (DeliveryStatus.COMPLAINED, ConsentOrigin.PROVIDER_COMPLAINT),
    "unsubscribed": (None, ConsentOrigin.UNSUBSCRIBE_LINK),
}


def _is_soft_bounce(event: AnymailTrackingEvent) -> bool:
    # Postmark reports a soft bounce as "bounced" too (anymail keeps its Type); only a hard
    # bounce withdraws consent.
    esp_event = getattr(event, "esp_event", None)
    return isinstance(esp_event, dict) and esp_event.get("Type") == "SoftBounce"


def email_event_record(event: AnymailTrackingEvent, esp_name: str) -> TrackingResult:
    """One anymail tracking event. It names its tenant and draft in the metadata we sent
    (campaigns.sending); the draft must also carry the event's message id and recipient, so
    metadata naming another tenant's draft changes nothing. Returns what was done."""
    mapping = EMAIL_EVENTS.get(event.event_type)
    metadata = event.metadata or {}
    try:
        tenant_id = uuid.UUID(str(metadata.get("tenant_id")))
        draft_id = uuid.UUID(str(metadata.get("draft_id")))
    except ValueError:
        return TrackingResult.NOT_OURS
    if mapping is None:
        return TrackingResult.EVENT_TYPE
    status, origin = mapping
    recipient = (event.recipient or "").strip().lower()
    with tenant_context(tenant_id, role="system"):
        draft = (
            MessageDraft.objects.select_for_update(of=("self",))
            .select_related("client")
            .filter(id=draft_id, channel=Channel.EMAIL)
            .first()
        )
        if draft is None or (draft.provider_message_id and draft.provider_message_id != event.message_id):
            return TrackingResult.UNKNOWN_DRAFT
        if recipient and draft.recipient.lower() != recipient:
            return TrackingResult.OTHER_RECIPIENT
        if status is not None and draft.status == MessageDraft.Status.SENT:
            _apply_status(draft, status, event.timestamp)
        if origin is not None and not _is_soft_bounce(event):
            client_consent_record(
                tenant=Tenant.objects.get(id=tenant_id),
                client=draft.client,
                decisions={Channel.EMAIL: False},
                origin=origin,
                provider=esp_name.lower()[:20],
                decided_at=event.timestamp or timezone.now(),
            )
    return TrackingResult.RECORDED


def on_anymail_tracking(sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    """anymail.signals.tracking receiver (connected in campaigns.apps)."""
    outcome = email_event_record(event, esp_name)
    logger.info("email tracking event %s from %s: %s", event.event_type, esp_name, outcome)
