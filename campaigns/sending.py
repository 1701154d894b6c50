"""Sending approved drafts: claim, call the provider with no transaction open, record.

At most once: a draft moves approved -> sending in a committed conditional update before any
network call. A second delivery of the same task finds it `sending` (or `sent`) and stops.
If a worker dies between the provider call and the record, the draft stays `sending`
rather than risk a second message; support can look at those.

Email goes through Django's email framework (EMAIL_BACKEND / EMAIL_HOST / ... from the
environment: SMTP, console, or an ESP through django-anymail), always from the platform's
sender (DEFAULT_FROM_EMAIL) with the salon's address as Reply-To, and always with its
unsubscribe link (List-Unsubscribe / List-Unsubscribe-Post and in the text); SMS through the
`twilio` library's client (at TWILIO_BASE_URL) with the tenant's own, encrypted credentials
and a StatusCallback. An SMS outside the tenant's quiet hours is not claimed: it gets
`send_after` and stays approved (campaigns.send_due_drafts queues it when the window opens).
"""

from __future__ import annotations

import datetime
import logging
import smtplib
import uuid
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from typing import Any

import requests
from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone
from twilio.base import values as twilio_values
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient

from campaigns.models import CampaignSettings, Channel, DeliveryStatus, MessageDraft
from campaigns.quiet_hours import sms_wait_until
from campaigns.rules import MAX_SEND_ATTEMPTS, SENDING_STALE_AFTER, SendResult
from campaigns.unsubscribe import unsubscribe_url
from clients.rules import consent_allows
from tenants.context import dangerously_ids_by_tenant, tenant_context
from tenants.models import Tenant, for_tenant

logger = logging.getLogger(__name__)

Status = MessageDraft.Status
TWILIO_DEFAULT_ROOT = "https://api.twilio.com"  # what the twilio library builds its URLs on
TWILIO_TIMEOUT = (5, 20)  # connect, read (seconds)


class ProviderError(Exception):
    """The provider refused or failed. `transient` failures are retried with backoff."""

    def __init__(self, reason: str, *, transient: bool, retry_after: int | None = None):
        super().__init__(reason)
        self.reason = reason[:500]
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outgoing:
    tenant_id: uuid.UUID
    client_id: uuid.UUID
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
    status: SendResult
    reason: str = ""
    retry_after: int | None = None


# --- providers -----------------------------------------------------------------------------


class _TwilioHttp(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints: its classes are Any
    """The twilio library's requests client with a (connect, read) timeout, pointed at
    TWILIO_BASE_URL, remembering the last answer's headers (Twilio's Retry-After)."""

    def __init__(self) -> None:
        super().__init__(pool_connections=False)
        # The base class checks a number; requests also takes (connect, read).
        self.timeout = TWILIO_TIMEOUT
        self.last_headers: dict[str, str] = {}

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # twilio's Response
        if url.startswith(TWILIO_DEFAULT_ROOT + "/"):
            url = settings.TWILIO_BASE_URL + url[len(TWILIO_DEFAULT_ROOT) :]
        response = super().request(method, url, *args, **kwargs)
        self.last_headers = dict(response.headers or {})
        return response


def twilio_client(account_sid: str, auth_token: str) -> TwilioClient:
    """A twilio Client for one tenant's account, whose API root is TWILIO_BASE_URL."""
    return TwilioClient(account_sid, auth_token, http_client=_TwilioHttp())


def status_callback_url(tenant_id: uuid.UUID) -> str:
    """Where Twilio posts a message's delivery status (and the URL its signature covers)."""
    return f"{settings.PUBLIC_BASE_URL}/api/v1/webhooks/twilio/{tenant_id}/status/"


def twilio_send(
    *, account_sid: str, auth_token: str, from_number: str, to: str, body: str, status_callback: str = ""
) -> str:
    """Create one message through the twilio library; returns Twilio's message sid. Raises ProviderError."""
    client = twilio_client(account_sid, auth_token)
    try:
        message = client.messages.create(
            to=to, from_=from_number, body=body, status_callback=status_callback or twilio_values.unset
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
    except TwilioException as exc:
        status_code = int(getattr(exc, "status", 0) or 0)
        code = getattr(exc, "code", None)
        message_text = getattr(exc, "msg", "") or getattr(exc, "detail", "") or str(exc) or "no message"
        reason = f"Twilio HTTP {status_code}" + (f", error {code}" if code and code != status_code else "")
        http = client.http_client
        raise ProviderError(
            f"{reason}: {message_text}",
            transient=status_code == 429 or status_code >= 500,
            retry_after=_retry_after(getattr(http, "last_headers", {})),
        ) from None
    if message.status == "failed" or message.error_code:
        raise ProviderError(
            f"Twilio error {message.error_code or ''}: {message.error_message or 'failed'}".replace(
                "error :", "error:"
            ),
            transient=False,
        )
    if not message.sid:
        raise ProviderError("Twilio answered without a message sid", transient=False)
    return str(message.sid)


def _retry_after(headers: dict[str, str]) -> int | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
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


def email_send(
    *,
    from_email: str,
    to: str,
    subject: str,
    body: str,
    reply_to: str = "",
    headers: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
) -> str:
    """Send through the configured Django email backend (SMTP, console, or an ESP through
    django-anymail, which also sends `metadata` and returns the ESP's message id). Raises
    ProviderError."""
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=from_email,
        to=[to],
        reply_to=[reply_to] if reply_to else None,
        headers=headers or {},
    )
    if metadata:
        message.metadata = metadata  # type: ignore[attr-defined]  # anymail's attribute; SMTP ignores it
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused:
        raise ProviderError("the mail server refused the recipient address", transient=False) from None
    except smtplib.SMTPResponseException as exc:
        # 4xx replies are "try again later", 5xx are final.
        raise ProviderError(f"mail server replied {exc.smtp_code}", transient=400 <= exc.smtp_code < 500) from None
    except (TimeoutError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, OSError):
        raise ProviderError("could not reach the mail server", transient=True) from None
    except smtplib.SMTPException as exc:
        raise ProviderError(f"mail error ({type(exc).__name__})", transient=False) from None
    except AnymailRecipientsRefused:
        raise ProviderError("the email provider refused the recipient address", transient=False) from None
    except AnymailAPIError as exc:
        code = getattr(exc, "status_code", None) or 0
        raise ProviderError(
            f"email provider error (HTTP {code or 'none'})", transient=code == 429 or code >= 500 or not code
        ) from None
    except AnymailError as exc:
        raise ProviderError(f"email provider error ({type(exc).__name__})", transient=False) from None
    status = getattr(message, "anymail_status", None)
    return str(getattr(status, "message_id", None) or "")  # SMTP gives no message id we could keep


def email_with_unsubscribe(body: str, url: str) -> str:
    """The visible opt-out every commercial email needs (CAN-SPAM), under the approved text."""
    return f"{body}\n\n--\nNo more birthday emails from us? Unsubscribe: {url}\n"


# --- the send itself -------------------------------------------------------------------


def _claim(tenant_id: uuid.UUID, draft_id: uuid.UUID) -> Outgoing | SendOutcome:
    """approved -> sending, in its own committed transaction. Checks consent *now*: an
    opt-out recorded after approval wins."""
    with tenant_context(tenant_id, role="system"):
        draft = (
            MessageDraft.objects.select_for_update(of=("self",)).select_related("client").filter(id=draft_id).first()
        )
        if draft is None or draft.status != Status.APPROVED:
            return SendOutcome(SendResult.SKIPPED, f"not approved ({draft.status if draft else 'missing'})")
        client = draft.client
        address = client.email if draft.channel == Channel.EMAIL else client.phone
        reason = ""
        if not consent_allows(client, draft.channel):
            reason = f"The client opted out of {draft.get_channel_display()} after the message was approved."
        elif not address:
            reason = f"The client has no {'email address' if draft.channel == Channel.EMAIL else 'phone number'}."
        if draft.attempts >= MAX_SEND_ATTEMPTS:
            reason = f"Gave up after {draft.attempts} attempts: {draft.failure_reason}"
        if reason:
            MessageDraft.objects.filter(id=draft_id, status=Status.APPROVED).update(
                status=Status.FAILED, failure_reason=reason, updated_at=timezone.now()
            )
            return SendOutcome(SendResult.FAILED, reason)
        tenant = Tenant.objects.get(id=tenant_id)
        campaign = for_tenant(CampaignSettings.objects.all(), tenant).first() or CampaignSettings()
        if draft.channel == Channel.SMS:
            wait_until = sms_wait_until(campaign, tenant, draft.send_after)
            if wait_until is not None:
                # Quiet hours: stays approved; campaigns.send_due_drafts queues it at the start.
                MessageDraft.objects.filter(id=draft_id, status=Status.APPROVED).update(
                    send_after=wait_until, updated_at=timezone.now()
                )
                return SendOutcome(SendResult.DEFERRED, f"quiet hours: sent after {wait_until.isoformat()}")
        claimed = MessageDraft.objects.filter(id=draft_id, status=Status.APPROVED).update(
            status=Status.SENDING, recipient=address, attempts=draft.attempts + 1, updated_at=timezone.now()
        )
        if not claimed:
            return SendOutcome(SendResult.SKIPPED, "claimed by another worker")
        credentials = campaign.sender_credentials or {}
        return Outgoing(
            tenant_id=tenant_id,
            client_id=client.id,
            draft_id=draft.id,
            channel=draft.channel,
            to=address,
            body=draft.body,
            business_name=tenant.name,
            sms_from=campaign.sms_from_number,
            email_reply_to=campaign.email_reply_to,
            twilio_sid=credentials.get("twilio_account_sid", ""),
            twilio_token=credentials.get("twilio_auth_token", ""),
        )


def _deliver(outgoing: Outgoing) -> str:
    if outgoing.channel == Channel.EMAIL:
        link = unsubscribe_url(tenant_id=outgoing.tenant_id, client_id=outgoing.client_id, channel=Channel.EMAIL)
        return email_send(
            from_email=platform_sender(outgoing.business_name),
            reply_to=outgoing.email_reply_to,
            to=outgoing.to,
            subject=f"Happy birthday from {outgoing.business_name}",
            body=email_with_unsubscribe(outgoing.body, link),
            # RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs
            # `List-Unsubscribe=One-Click` to the link.
            headers={"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            # Echoed back by the ESP's tracking webhooks (campaigns.delivery).
            metadata={"tenant_id": str(outgoing.tenant_id), "draft_id": str(outgoing.draft_id)},
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
        status_callback=status_callback_url(outgoing.tenant_id),
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
            return SendOutcome(SendResult.RETRY, exc.reason, exc.retry_after)
        return SendOutcome(SendResult.FAILED, exc.reason)
    with tenant_context(tenant_id, role="system"):
        MessageDraft.objects.filter(id=draft_id, status=Status.SENDING).update(
            status=Status.SENT,
            sent_at=timezone.now(),
            delivery_status=DeliveryStatus.SENT,
            provider_message_id=message_id or "",
            failure_reason="",
            updated_at=timezone.now(),
        )
    return SendOutcome(SendResult.SENT)


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


def drafts_due(*, now: datetime.datetime | None = None) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The approved SMS drafts whose quiet-hours wait is over, by tenant (campaigns.send_due_drafts
    queues them). The scan reads across tenants (read-only support role); the send claims each
    draft in its own tenant's context, so a draft queued twice is sent once."""
    due = MessageDraft.objects.filter(status=Status.APPROVED, send_after__lte=now or timezone.now())
    return dangerously_ids_by_tenant(due)
