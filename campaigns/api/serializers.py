from __future__ import annotations

import datetime
import re
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import (
    BIRTHDAYS_MAX_DAYS_AHEAD,
    DEFAULT_DAYS_AHEAD,
    CampaignSettings,
    Channel,
    DeliveryStatus,
    MessageDraft,
)
from campaigns.rules import MAX_ANY_BODY_LENGTH, MAX_BULK_IDS
from clients.models import display_name_of
from common.validation import BoundedDateField, StrictModelSerializer, StrictSerializer

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
HH_MM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


# OpenAPI's `format: time` is RFC 3339's full-time, with an offset; these are local wall-clock
# times of the tenant's time zone, so they are HH:MM strings, read and written the same way.
@extend_schema_field({"type": "string", "pattern": HH_MM, "example": "09:00"})
class LocalTimeField(serializers.TimeField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", input_formats=["%H:%M"], **kwargs)

    def to_internal_value(self, value: Any) -> datetime.time:
        if not isinstance(value, str) or not re.fullmatch(HH_MM, value):
            self.fail("invalid", format="HH:MM")
        return super().to_internal_value(value)


class BirthdayBatchRequestSerializer(StrictSerializer):
    days_ahead = serializers.IntegerField(min_value=0, max_value=BIRTHDAYS_MAX_DAYS_AHEAD, default=DEFAULT_DAYS_AHEAD)
    # `from` is a Python keyword: the field is declared under it in __init__.
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = BoundedDateField(required=False, allow_null=True)


class JobAcceptedSerializer(serializers.Serializer[Any]):
    job_id = serializers.UUIDField()


class CampaignSettingsSerializer(StrictModelSerializer):
    # Write-only secrets: what is stored is never echoed; `twilio_configured` says if it is set.
    twilio_account_sid = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=64)
    twilio_auth_token = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=128)
    twilio_configured = serializers.BooleanField(read_only=True)
    sms_window_start = LocalTimeField(
        required=False, help_text="Earliest local time (tenant's time zone) to send SMS, HH:MM. Default 09:00."
    )
    sms_window_end = LocalTimeField(
        required=False,
        help_text="Latest local time to send SMS, HH:MM (default 20:00); before the start: the window spans "
        "midnight; equal to it: no quiet hours.",
    )
    # A tenant that never saved its settings reads the defaults, never stored: no update yet.
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = CampaignSettings
        fields = [
            "birthday_template",
            "default_channel",
            "birthday_run_enabled",
            "birthday_run_hour",
            "birthday_run_minute",
            "birthday_days_ahead",
            "birthday_last_scheduled_on",
            "sms_from_number",
            "sms_window_start",
            "sms_window_end",
            "email_reply_to",
            "twilio_account_sid",
            "twilio_auth_token",
            "twilio_configured",
            "updated_at",
        ]
        read_only_fields = ["birthday_last_scheduled_on", "updated_at"]
        extra_kwargs = {
            # Checked by the service, which names the field in a 400 `validation_error`.
            "birthday_template": {"validators": []},
            "birthday_run_hour": {"min_value": 0, "max_value": 23},
            "birthday_run_minute": {"min_value": 0, "max_value": 59},
            "birthday_days_ahead": {"min_value": 0, "max_value": BIRTHDAYS_MAX_DAYS_AHEAD},
            # A validator, not a validate_ method: the pattern then shows in the schema.
            "sms_from_number": {
                "validators": [RegexValidator(E164, message="must be an E.164 number such as +14155550123")]
            },
        }


class DraftClientSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField(source="display_name")


# The draft list builds MessageDraftSerializer's JSON from rows with draft_json(); the class
# stays its schema and serializes single drafts (tests/test_draft_rows.py holds the two equal).
# A comment, not a docstring: the schema would take a docstring as the component's description.
class MessageDraftSerializer(serializers.ModelSerializer[MessageDraft]):
    client = DraftClientSerializer(read_only=True)
    delivery_status = serializers.ChoiceField(
        choices=DeliveryStatus.choices,
        allow_blank=True,
        read_only=True,
        help_text="What the provider says became of the message; empty until it is sent.",
    )

    class Meta:
        model = MessageDraft
        fields = [
            "id",
            "client",
            "channel",
            "occasion",
            "occasion_date",
            "body",
            "status",
            "generator",
            "generator_fallback",
            "generator_fallback_reason",
            "recipient",
            "failure_reason",
            "provider_message_id",
            "attempts",
            "approved_by",
            "approved_at",
            "sent_at",
            "send_after",
            "delivery_status",
            "delivered_at",
            "job",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [name for name in fields if name != "body"]


# What the API shows of a draft, read as rows (draft_json): the draft's own columns (`approved_by`
# and `job` are ids) and what its client is named from (clients.models.display_name_of).
DRAFT_ROW_FIELDS = (
    "id",
    "client_id",
    "client__first_name",
    "client__last_name",
    "client__email",
    "client__phone",
    *(name for name in MessageDraftSerializer.Meta.fields if name not in ("id", "client")),
)


def draft_json(row: dict[str, Any]) -> dict[str, Any]:
    """MessageDraftSerializer's output for a row of DRAFT_ROW_FIELDS, in one step. Ids, dates
    and times are left as Python values: the renderer writes them as the serializer's fields would."""
    return {
        "id": row["id"],
        "client": {
            "id": row["client_id"],
            "name": display_name_of(
                row["client__first_name"], row["client__last_name"], row["client__email"], row["client__phone"]
            ),
        },
        "channel": row["channel"],
        "occasion": row["occasion"],
        "occasion_date": row["occasion_date"],
        "body": row["body"],
        "status": row["status"],
        "generator": row["generator"],
        "generator_fallback": row["generator_fallback"],
        "generator_fallback_reason": row["generator_fallback_reason"],
        "recipient": row["recipient"],
        "failure_reason": row["failure_reason"],
        "provider_message_id": row["provider_message_id"],
        "attempts": row["attempts"],
        "approved_by": row["approved_by"],
        "approved_at": row["approved_at"],
        "sent_at": row["sent_at"],
        "send_after": row["send_after"],
        "delivery_status": row["delivery_status"],
        "delivered_at": row["delivered_at"],
        "job": row["job"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


class MessageDraftBodySerializer(StrictSerializer):
    body = serializers.CharField(max_length=MAX_ANY_BODY_LENGTH, trim_whitespace=True)


class BulkApproveRequestSerializer(StrictSerializer):
    ids = serializers.ListField(child=serializers.UUIDField(), allow_empty=False, max_length=MAX_BULK_IDS)


class BulkApproveResultSerializer(serializers.Serializer[Any]):
    approved = serializers.ListField(child=serializers.UUIDField())
    not_found = serializers.IntegerField(help_text="How many ids are not drafts of this tenant (ignored).")
    not_approvable = serializers.ListField(child=serializers.DictField())
    deferred = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="Approved SMS drafts held by quiet hours until `send_after` (the window's next start).",
    )
    send_after = serializers.DateTimeField(allow_null=True, help_text="When the deferred drafts are sent.")
