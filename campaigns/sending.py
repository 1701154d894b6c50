"""Sending approved drafts: claim, call the provider with no transaction open, record.

At most once: a draft moves approved -> sending in a committed conditional update before any
network call. A second delivery of the same task finds it `sending` (or `sent`) and stops.
If a worker dies between the provider call and the record, the draft stays `sending`
rather than risk a second message; support can look at those.

Email goes through Django's email framework (EMAIL_BACKEND / EMAIL_HOST / ... from the
environment), always from the platform's sender (DEFAULT_FROM_EMAIL) with the salon's address
as Reply-To; SMS through Twilio's Messages API with the tenant's own, encrypted credentials.
"""

from __future__ import annotations

import datetime
import logging
import smtplib
import uuid
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from campaigns.models import CampaignSettings, Channel, MessageDraft
from clients import consent
from tenants.context import dangerously_ids_by_tenant, tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)

Status = MessageDraft.Status
TWILIO_MESSAGES_URL = "https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json"
TWILIO_TIMEOUT = (5, 20)  # connect, read (seconds)
MAX_SEND_ATTEMPTS = 5


class ProviderError(Exception):
    """The provider refused or failed. `transient` failures are retried with backoff."""

    def __init__(self, reason: str, *, transient: bool, retry_after: int | None = None):
        super().__init__(reason)
        self.reason = reason[:500]
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outgoing:
    draft_id: uuid.UUID
    channel: str
    to: str
    body: str
    business_name: str
    sms_from: str
    email_reply_to: str
    twilio_sid: str
    twilio_token: str


@dataclass(frozen=True)
class SendOutcome:
    status: str  # sent / failed / skipped / retry
    reason: str = ""
    retry_after: int | None = None


# --- providers -----------------------------------------------------------------------------


def twilio_send(
    *, account_sid: str, auth_token: str, from_number: str, to: str, body: str, session: requests.Session | None = None
) -> str:
    """POST one message; returns Twilio's message sid. Raises ProviderError."""
    try:
        response = (session or requests).post(
            TWILIO_MESSAGES_URL.format(sid=account_sid),
            auth=(account_sid, auth_token),
            data={"To": to, "From": from_number, "Body": body},
            timeout=TWILIO_TIMEOUT,
        )
    except requests.ConnectTimeout:
        raise ProviderError("Twilio did not accept the connection in time", transient=True) from None
    except requests.ReadTimeout:
        # The request reached Twilio; it may have queued the message. Retrying could send it
        # twice, and "at most once" wins: fail it with a reason a person can act on.
        raise ProviderError(
            "Twilio did not answer in time; the message may or may not have gone out", transient=False
        ) from None
    except requests.ConnectionError:
        raise ProviderError("could not connect to Twilio", transient=True) from None
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if response.status_code in (200, 201):
        if payload.get("status") == "failed" or payload.get("error_code"):
            raise ProviderError(_twilio_reason(payload, response.status_code), transient=False)
        sid = payload.get("sid")
        if not sid:
            raise ProviderError("Twilio answered without a message sid", transient=False)
        return sid
    transient = response.status_code == 429 or response.status_code >= 500
    raise ProviderError(
        _twilio_reason(payload, response.status_code), transient=transient, retry_after=_retry_after(response)
    )


def _twilio_reason(payload: dict, status_code: int) -> str:
    code = payload.get("error_code") or payload.get("code")
    message = payload.get("error_message") or payload.get("message") or "no message"
    return f"Twilio HTTP {status_code}" + (f", error {code}" if code else "") + f": {message}"


def _retry_after(response) -> int | None:
    value = response.headers.get("Retry-After")
    try:
        return max(1, min(int(value), 3600)) if value else None
    except ValueError:
        return None


def platform_sender(business_name: str) -> str:
    """From of every email: the platform's verified address (DEFAULT_FROM_EMAIL) with the
    salon's name as display name. A tenant's own address is never the From: the platform's
    SMTP would send as an address nobody verified (and SPF/DKIM would not cover it)."""
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    # formataddr quotes or RFC 2047-encodes the name, so no name can inject a header.
    return formataddr((business_name.replace("\r", " ").replace("\n", " ")[:100], address))


def email_send(*, from_email: str, to: str, subject: str, body: str, reply_to: str = "") -> str:
    """Send through the configured Django email backend. Raises ProviderError."""
    try:
        EmailMessage(
            subject=subject, body=body, from_email=from_email, to=[to], reply_to=[reply_to] if reply_to else None
        ).send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused:
        raise ProviderError("the mail server refused the recipient address", transient=False) from None
    except smtplib.SMTPResponseException as exc:
        # 4xx replies are "try again later", 5xx are final.
        raise ProviderError(f"mail server replied {exc.smtp_code}", transient=400 <= exc.smtp_code < 500) from None
    except (TimeoutError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, OSError):
        raise ProviderError("could not reach the mail server", transient=True) from None
    except smtplib.SMTPException as exc:
        raise ProviderError(f"mail error ({type(exc).__name__})", transient=False) from None
    return ""  # SMTP gives no message id we could keep


# --- the send itself -------------------------------------------------------------------


def _claim(tenant_id: uuid.UUID, draft_id: uuid.UUID) -> Outgoing | SendOutcome:
    """approved -> sending, in its own committed transaction. Checks consent *now*: an
    opt-out recorded after approval wins."""
    with tenant_context(tenant_id, role="system"):
        draft = (
            MessageDraft.objects.select_for_update(of=("self",)).select_related("client").filter(id=draft_id).first()
        )
        if draft is None or draft.status != Status.APPROVED:
            return SendOutcome("skipped", f"not approved ({draft.status if draft else 'missing'})")
        client = draft.client
        address = client.email if draft.channel == Channel.EMAIL else client.phone
        reason = ""
        if not consent.allows(client, draft.channel):
            reason = f"The client opted out of {draft.get_channel_display()} after the message was approved."
        elif not address:
            reason = f"The client has no {'email address' if draft.channel == Channel.EMAIL else 'phone number'}."
        if draft.attempts >= MAX_SEND_ATTEMPTS:
            reason = f"Gave up after {draft.attempts} attempts: {draft.failure_reason}"
        if reason:
            MessageDraft.objects.filter(id=draft_id, status=Status.APPROVED).update(
                status=Status.FAILED, failure_reason=reason, updated_at=timezone.now()
            )
            return SendOutcome("failed", reason)
        claimed = MessageDraft.objects.filter(id=draft_id, status=Status.APPROVED).update(
            status=Status.SENDING, recipient=address, attempts=draft.attempts + 1, updated_at=timezone.now()
        )
        if not claimed:
            return SendOutcome("skipped", "claimed by another worker")
        campaign = CampaignSettings.objects.filter(tenant_id=tenant_id).first() or CampaignSettings()
        credentials = campaign.sender_credentials or {}
        return Outgoing(
            draft_id=draft.id,
            channel=draft.channel,
            to=address,
            body=draft.body,
            business_name=Tenant.objects.get(id=tenant_id).name,
            sms_from=campaign.sms_from_number,
            email_reply_to=campaign.email_reply_to,
            twilio_sid=credentials.get("twilio_account_sid", ""),
            twilio_token=credentials.get("twilio_auth_token", ""),
        )


def _deliver(outgoing: Outgoing) -> str:
    if outgoing.channel == Channel.EMAIL:
        return email_send(
            from_email=platform_sender(outgoing.business_name),
            reply_to=outgoing.email_reply_to,
            to=outgoing.to,
            subject=f"Happy birthday from {outgoing.business_name}",
            body=outgoing.body,
        )
    if not (outgoing.twilio_sid and outgoing.twilio_token and outgoing.sms_from):
        raise ProviderError(
            "SMS is not set up: add the Twilio account SID, auth token and from-number", transient=False
        )
    return twilio_send(
        account_sid=outgoing.twilio_sid,
        auth_token=outgoing.twilio_token,
        from_number=outgoing.sms_from,
        to=outgoing.to,
        body=outgoing.body,
    )


def draft_send(*, tenant_id: uuid.UUID, draft_id: uuid.UUID, final_attempt: bool = False) -> SendOutcome:
    """Send one approved draft at most once. Returns `retry` for a transient provider error
    (the draft goes back to approved, to be claimed again) unless this is the final attempt."""
    claimed = _claim(tenant_id, draft_id)
    if isinstance(claimed, SendOutcome):
        return claimed
    try:
        message_id = _deliver(claimed)  # no transaction open: the provider may be slow
    except ProviderError as exc:
        retry = exc.transient and not final_attempt
        with tenant_context(tenant_id, role="system"):
            MessageDraft.objects.filter(id=draft_id, status=Status.SENDING).update(
                status=Status.APPROVED if retry else Status.FAILED, failure_reason=exc.reason, updated_at=timezone.now()
            )
        if retry:
            return SendOutcome("retry", exc.reason, exc.retry_after)
        return SendOutcome("failed", exc.reason)
    with tenant_context(tenant_id, role="system"):
        MessageDraft.objects.filter(id=draft_id, status=Status.SENDING).update(
            status=Status.SENT,
            sent_at=timezone.now(),
            provider_message_id=message_id or "",
            failure_reason="",
            updated_at=timezone.now(),
        )
    return SendOutcome("sent")


SENDING_STALE_AFTER = datetime.timedelta(hours=1)
UNKNOWN_OUTCOME = (
    "The sending worker stopped after contacting the provider; whether the message went out is unknown. "
    "Check the provider's log before approving it again."
)


def drafts_fail_stale_sending(*, now: datetime.datetime | None = None) -> int:
    """Drafts left in `sending` by a worker that died mid-send are never sent again (that
    could send twice); after an hour they are marked failed with the reason, so a person
    sees them. The scan reads across tenants (read-only support role); each tenant's drafts
    are updated in its own context, with the condition checked again."""
    cutoff = (now or timezone.now()) - SENDING_STALE_AFTER
    stale = MessageDraft.objects.filter(status=Status.SENDING, updated_at__lt=cutoff)
    failed = 0
    for tenant_id, draft_ids in dangerously_ids_by_tenant(stale).items():
        with tenant_context(tenant_id, role="system"):
            failed += stale.filter(id__in=draft_ids).update(
                status=Status.FAILED, failure_reason=UNKNOWN_OUTCOME, updated_at=timezone.now()
            )
    return failed
