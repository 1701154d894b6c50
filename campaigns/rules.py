"""The rules and figures of campaigns, each written once: message lengths, request limits,
send attempts, and the outcomes the sender and the delivery webhooks answer with.

What is stored in a column (channels, occasions, draft and delivery statuses, the default
window) lives in campaigns.models as TextChoices and module constants; the birthday window
itself (how far ahead a batch may look) is the clients app's (BIRTHDAYS_MAX_DAYS_AHEAD).
The Celery task names are here too: services enqueue by name, so they never import the
tasks module (which imports the runners, which import the services).
"""

from __future__ import annotations

import datetime
from enum import StrEnum

from campaigns.models import Channel

# --- messages --------------------------------------------------------------------------------

# The longest text a draft may hold, per channel (an edit above it is refused; a longer SMS
# costs many segments).
MAX_BODY_LENGTH: dict[str, int] = {Channel.SMS: 1600, Channel.EMAIL: 10_000}
# Longest of them: what the API accepts before the per-channel check (the serializer's max_length).
MAX_ANY_BODY_LENGTH = max(MAX_BODY_LENGTH.values())
# An LLM's text longer than this is replaced by the template rather than cut mid-sentence
# (an SMS above 320 characters costs three segments).
MAX_LLM_LENGTH: dict[str, int] = {Channel.SMS: 320, Channel.EMAIL: 2000}

# --- requests --------------------------------------------------------------------------------

MAX_BULK_IDS = 500  # drafts per bulk approval

# --- sending ---------------------------------------------------------------------------------

MAX_SEND_ATTEMPTS = 5  # provider calls per draft, the first included (the task retries the rest)
# A draft still `sending` after this had its worker die mid-send: it is failed, never resent.
SENDING_STALE_AFTER = datetime.timedelta(hours=1)


class SendResult(StrEnum):
    """What one run of the send task did with a draft (campaigns.sending.draft_send); the
    task's return value. Not stored: the draft's own `status` and `delivery_status` are."""

    SENT = "sent"  # the provider accepted it
    FAILED = "failed"  # refused for good (opt-out, no address, provider error, attempts used up)
    SKIPPED = "skipped"  # not ours to send now: not approved, missing, or claimed by another worker
    RETRY = "retry"  # a transient provider error: the task retries with backoff
    DEFERRED = "deferred"  # an SMS in quiet hours: stays approved until `send_after`


class ReplyAction(StrEnum):
    """What a client's SMS reply asks for (Twilio's keywords, campaigns.delivery)."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


class TrackingResult(StrEnum):
    """What was done with one ESP tracking event (campaigns.delivery.email_event_record)."""

    RECORDED = "recorded"
    NOT_OURS = "ignored: not ours"  # no tenant and draft of ours in its metadata
    EVENT_TYPE = "ignored: event type"  # a type that changes nothing (opened, clicked ...)
    UNKNOWN_DRAFT = "ignored: unknown draft"
    OTHER_RECIPIENT = "ignored: other recipient"


# --- Celery task names (the routes in brandvx/settings/celery.py name them too) -----------------

BIRTHDAY_BATCH_TASK = "campaigns.birthday_batch"
SEND_MESSAGE_DRAFT_TASK = "campaigns.send_message_draft"
