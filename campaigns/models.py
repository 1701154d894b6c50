"""Campaign settings (one row per tenant) and the message drafts a birthday batch creates."""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from campaigns.templates_text import DEFAULT_BIRTHDAY_TEMPLATE, MAX_TEMPLATE_LENGTH, validate_template
from tenants.db.crypto import EncryptedJSONField
from tenants.db.sharding import TenantForeignKey
from tenants.models import BackgroundJob, TenantModel

# How far ahead a birthday window may reach: the clients app's rule, named
# clients.rules.BIRTHDAYS_MAX_DAYS_AHEAD on the clients branch (not on this one yet).
# owner: clients - once merged, import it from clients.rules and delete this line.
BIRTHDAYS_MAX_DAYS_AHEAD = 366
# Days ahead a birthday batch looks when nobody says (the daily run's default, the API's).
DEFAULT_DAYS_AHEAD = 7


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class Occasion(models.TextChoices):
    BIRTHDAY = "birthday", "Birthday"


class CampaignSettings(TenantModel):
    """How a business's birthday messages read, when they are prepared, and who sends them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    birthday_template = models.TextField(
        default=DEFAULT_BIRTHDAY_TEMPLATE,
        max_length=MAX_TEMPLATE_LENGTH,
        validators=[validate_template],
        help_text="Placeholders: {first_name}, {last_name}, {business_name}, {birthday_date}.",
    )
    default_channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.SMS)
    # The daily run prepares drafts; nothing is sent until someone approves them.
    birthday_run_enabled = models.BooleanField(default=False)
    birthday_run_hour = models.PositiveSmallIntegerField(default=9, validators=[MaxValueValidator(23)])
    birthday_run_minute = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(59)])
    birthday_days_ahead = models.PositiveSmallIntegerField(
        default=DEFAULT_DAYS_AHEAD, validators=[MinValueValidator(0), MaxValueValidator(BIRTHDAYS_MAX_DAYS_AHEAD)]
    )
    # Local date of the last scheduled run: the conditional update on it is what makes the
    # beat fan-out idempotent (two fan-outs in one slot start one job).
    birthday_last_scheduled_on = models.DateField(null=True, blank=True, editable=False)
    sms_from_number = models.CharField(max_length=20, blank=True, help_text="E.164 number Twilio sends from.")
    # Never the From of a message: the platform's SMTP sends only as its own verified sender
    # (DEFAULT_FROM_EMAIL); an address a tenant typed is unverified, so it is only the Reply-To.
    email_reply_to = models.EmailField(
        blank=True, help_text="The salon's address: the Reply-To of birthday emails (sent from DEFAULT_FROM_EMAIL)."
    )
    # Quiet hours: SMS goes out only between these local times (the tenant's time zone); an
    # approved text outside them waits for the next start (MessageDraft.send_after). A start
    # after the end spans midnight (22:00-06:00); equal times mean no quiet hours. E-mail is
    # never deferred.
    sms_window_start = models.TimeField(default=datetime.time(9, 0), help_text="Earliest local time to send SMS.")
    sms_window_end = models.TimeField(default=datetime.time(20, 0), help_text="Latest local time to send SMS.")
    # {"twilio_account_sid": ..., "twilio_auth_token": ...}: ciphertext at rest, write-only in the API.
    sender_credentials = EncryptedJSONField(blank=True, default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "campaign settings"
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="campaign_settings_one_per_tenant"),
            models.CheckConstraint(condition=models.Q(birthday_run_hour__lte=23), name="campaign_settings_hour_valid"),
            models.CheckConstraint(
                condition=models.Q(birthday_run_minute__lte=59), name="campaign_settings_minute_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Campaign settings of {self.tenant_id}"

    @property
    def twilio_configured(self) -> bool:
        creds = self.sender_credentials or {}
        return bool(creds.get("twilio_account_sid") and creds.get("twilio_auth_token") and self.sms_from_number)


class DeliveryStatus(models.TextChoices):
    """What the provider says became of a sent message (empty until it is sent)."""

    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class MessageDraft(TenantModel):
    """One message to one client for one occasion. Created by a batch, approved by a person,
    sent by a task, at most once."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        APPROVED = "approved"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        DISCARDED = "discarded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = TenantForeignKey("clients.Client", on_delete=models.CASCADE, related_name="message_drafts")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    occasion = models.CharField(max_length=20, choices=Occasion.choices, default=Occasion.BIRTHDAY)
    occasion_date = models.DateField(help_text="The day the occasion is celebrated (tenant's local date).")
    body = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    generator = models.CharField(max_length=40, blank=True, help_text="What wrote the text: template or llm:<model>.")
    generator_fallback = models.BooleanField(default=False, help_text="The LLM failed and the template was used.")
    generator_fallback_reason = models.CharField(max_length=200, blank=True)
    recipient = models.CharField(max_length=254, blank=True, help_text="Address it was sent to (set when sending).")
    failure_reason = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # An approved SMS outside the quiet-hours window waits until this time (then a worker sends it).
    send_after = models.DateTimeField(null=True, blank=True)
    delivery_status = models.CharField(max_length=12, choices=DeliveryStatus.choices, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    job = TenantForeignKey(BackgroundJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One message per client and occasion: reruns, retries and duplicate requests
            # insert with ON CONFLICT DO NOTHING against this key.
            models.UniqueConstraint(
                fields=["tenant", "client", "occasion", "occasion_date"], name="message_draft_once_per_occasion"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "occasion_date", "id"], name="draft_tenant_date_idx"),
            models.Index(fields=["tenant", "status", "occasion_date"], name="draft_tenant_status_idx"),
            # Status callbacks find their draft by the provider's message id.
            models.Index(fields=["tenant", "provider_message_id"], name="draft_tenant_provider_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.occasion} {self.channel} for {self.client_id} on {self.occasion_date} ({self.status})"
