from __future__ import annotations

import datetime
import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clients.models import (
    EMAIL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    NOTES_MAX_LENGTH,
    TAG_NAME_MAX_LENGTH,
    Client,
    Source,
    Tag,
    birthday_text_of,
    display_name_of,
)
from common.validation import StrictSerializer

BIRTHDAY_PATTERN = r"^([0-9]{4}|-)-[0-9]{2}-[0-9]{2}$"


class ExternalIdSerializer(serializers.Serializer[Any]):
    provider = serializers.CharField()
    external_id = serializers.CharField()


# Lists (the client list, search, birthdays) build the same JSON from rows with client_json();
# this class stays the schema of both and serializes single clients. tests/test_client_rows.py
# holds the two to the same output. (A comment: the docstring is the schema's description.)
class ClientSerializer(serializers.ModelSerializer[Client]):
    """A client as read. Writes go through ClientWriteSerializer and the services."""

    display_name = serializers.CharField(read_only=True)
    birthday = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    external_ids = ExternalIdSerializer(many=True, read_only=True)

    class Meta:
        model = Client
        fields = [
            "id",
            "first_name",
            "last_name",
            "display_name",
            "email",
            "phone",
            "phone_extension",
            "birthday_month",
            "birthday_day",
            "birth_year",
            "birthday",
            "notes",
            "source",
            "email_consent",
            "email_consent_at",
            "sms_consent",
            "sms_consent_at",
            "tags",
            "external_ids",
            "archived_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_birthday(self, client: Client) -> str | None:
        return client.birthday_text

    def get_tags(self, client: Client) -> list[str]:
        # Uses the prefetched links (selectors.client_list): no query per client.
        return sorted((link.tag.name for link in client.client_tags.all()), key=str.lower)


def client_json(row: dict[str, Any]) -> dict[str, Any]:
    """ClientSerializer's output for a row of clients.selectors.client_rows, built in one step
    instead of field by field (a list page is 50 of these). Dates, times and ids are left as
    Python values: the JSON renderer writes them exactly as the serializer's fields would
    (ISO 8601, UTC as `Z`; ids as text), since times are read in UTC (TIME_ZONE)."""
    return {
        "id": row["id"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "display_name": display_name_of(row["first_name"], row["last_name"], row["email"], row["phone"]),
        "email": row["email"],
        "phone": row["phone"],
        "phone_extension": row["phone_extension"],
        "birthday_month": row["birthday_month"],
        "birthday_day": row["birthday_day"],
        "birth_year": row["birth_year"],
        "birthday": birthday_text_of(row["birth_year"], row["birthday_month"], row["birthday_day"]),
        "notes": row["notes"],
        "source": row["source"],
        "email_consent": row["email_consent"],
        "email_consent_at": row["email_consent_at"],
        "sms_consent": row["sms_consent"],
        "sms_consent_at": row["sms_consent_at"],
        "tags": sorted(row["tag_names"], key=str.lower),
        "external_ids": [{"provider": provider, "external_id": value} for provider, value in row["external_id_pairs"]],
        "archived_at": row["archived_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "pattern": BIRTHDAY_PATTERN,
        "description": "YYYY-MM-DD, or --MM-DD when the year is unknown (as read). Sets birthday_month, "
        "birthday_day and birth_year; sent with them, they must agree. null clears the birthday.",
    }
)
class BirthdayField(serializers.Field):  # type: ignore[type-arg]  # generic only in the stubs
    """The read shape of a birthday, accepted on write: (year or None, month, day), or None."""

    def to_internal_value(self, data: Any) -> tuple[int | None, int, int]:
        if not isinstance(data, str) or not re.fullmatch(BIRTHDAY_PATTERN, data):
            raise serializers.ValidationError("Must be YYYY-MM-DD or --MM-DD.")
        year = None if data.startswith("--") else int(data[:4])
        month, day = int(data[-5:-3]), int(data[-2:])
        try:
            datetime.date(year or 2000, month, day)  # 2000: Feb 29 is a valid year-less birthday
        except ValueError:
            raise serializers.ValidationError("Is not a calendar date.") from None
        return (year, month, day)

    def get_attribute(self, instance: Any) -> Any:
        # What a form or the browsable API's "Raw data" shows for a client being edited: the
        # birthday as read, which agrees with the split fields beside it (sent back unchanged,
        # it is accepted).
        if isinstance(instance, Client):
            return instance.birthday_text
        return super().get_attribute(instance)

    def to_representation(self, value: Any) -> Any:
        return value


class ClientWriteSerializer(StrictSerializer):
    """Shapes and types only; normalization (email, phone in the tenant's country), birthday
    rules and consent times are the services' job, and their errors name the field too.
    Defaults apply to PUT (a full replacement); PATCH sends only what changes."""

    first_name = serializers.CharField(max_length=NAME_MAX_LENGTH, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=NAME_MAX_LENGTH, allow_blank=True, default="")
    email = serializers.CharField(max_length=EMAIL_MAX_LENGTH, allow_blank=True, default="", trim_whitespace=True)
    phone = serializers.CharField(max_length=40, allow_blank=True, default="")
    birthday_month = serializers.IntegerField(min_value=1, max_value=12, allow_null=True, default=None)
    birthday_day = serializers.IntegerField(min_value=1, max_value=31, allow_null=True, default=None)
    birth_year = serializers.IntegerField(
        min_value=1900, max_value=datetime.date.today().year, allow_null=True, default=None
    )
    birthday = BirthdayField(required=False, allow_null=True)
    notes = serializers.CharField(allow_blank=True, default="", trim_whitespace=False, max_length=NOTES_MAX_LENGTH)
    # A field named `source` (the API's name) shadows serializers.Field.source, which a field
    # in a serializer never reads.
    source = serializers.ChoiceField(choices=Source.choices, default=Source.MANUAL)  # type: ignore[assignment]  # see above
    email_consent = serializers.BooleanField(default=False)
    sms_consent = serializers.BooleanField(default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """`birthday` and the split fields are one value: `birthday` fills the split fields;
        a split field sent with it must say the same (a contradiction is a 400 naming both)."""
        if "birthday" not in attrs:
            return attrs
        birthday = attrs.pop("birthday")
        year, month, day = birthday if birthday is not None else (None, None, None)
        implied = {"birth_year": year, "birthday_month": month, "birthday_day": day}
        sent = getattr(self, "initial_data", {})
        for name, value in implied.items():
            if name in sent and attrs.get(name) != value:
                raise serializers.ValidationError(
                    {
                        "birthday": [f"Contradicts {name}: change both, or leave one of them out."],
                        name: ["Contradicts birthday."],
                    }
                )
        attrs.update(implied)
        return attrs


# The tag list builds TagSerializer's JSON from rows with tag_json(); the class stays its schema
# and serializes single tags (tests/test_tag_rows.py holds the two equal). A comment, not a
# docstring: the schema would take a docstring as the component's description.
class TagSerializer(serializers.ModelSerializer[Tag]):
    client_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Tag
        fields = ["id", "name", "client_count", "created_at"]
        read_only_fields = fields


# What the API shows of a tag, read as rows of selectors.tag_counts() (tag_json).
TAG_ROW_FIELDS = ("id", "name", "client_count", "created_at")


def tag_json(row: dict[str, Any]) -> dict[str, Any]:
    """TagSerializer's output for a row of TAG_ROW_FIELDS (the id and time are written by the
    renderer, as the serializer's fields would write them)."""
    return {"id": row["id"], "name": row["name"], "client_count": row["client_count"], "created_at": row["created_at"]}


class TagNameSerializer(StrictSerializer):
    name = serializers.CharField(max_length=TAG_NAME_MAX_LENGTH)


class ClientTagResultSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    created = serializers.BooleanField()
    client = ClientSerializer()


class UpcomingBirthdaySerializer(serializers.Serializer[Any]):
    client = ClientSerializer()
    date = serializers.DateField()
    days_until = serializers.IntegerField()
    turning = serializers.IntegerField(allow_null=True)


class BirthdaysSerializer(serializers.Serializer[Any]):
    start = serializers.DateField(help_text="The first day of the window (the `from` parameter).")
    end = serializers.DateField()
    days_ahead = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Birthdays in the whole window (every page), the filters applied.")
    next = serializers.URLField(allow_null=True, help_text="The next page of the window; null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The page before; null on the first.")
    results = UpcomingBirthdaySerializer(many=True, help_text="This page's birthdays, in the window's order.")


class DuplicateGroupSerializer(serializers.Serializer[Any]):
    reasons = serializers.ListField(child=serializers.ChoiceField(choices=["email", "phone"]))
    clients = ClientSerializer(many=True)


class DuplicatesSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    groups = DuplicateGroupSerializer(many=True)


class MergeRequestSerializer(StrictSerializer):
    source = serializers.UUIDField(help_text="Merged away (deleted).")  # type: ignore[assignment]  # as above
    target = serializers.UUIDField(help_text="Kept: receives the source's tags, ids and history.")


class MergeResultSerializer(serializers.Serializer[Any]):
    client = ClientSerializer()
    moved = serializers.DictField(child=serializers.IntegerField())
    conflicts = serializers.DictField(child=serializers.IntegerField())


class ImportRequestSerializer(StrictSerializer):
    file = serializers.FileField()


class ImportColumnSerializer(serializers.Serializer[Any]):
    column = serializers.CharField(help_text="What the column fills.")
    headers = serializers.ListField(
        child=serializers.CharField(),
        help_text="Header names read as this column (any case; spaces, `_`, `-` ignored).",
    )


class ImportFormatSerializer(serializers.Serializer[Any]):
    columns = ImportColumnSerializer(many=True)
    max_bytes = serializers.IntegerField(help_text="The largest file accepted.")
    max_rows = serializers.IntegerField(help_text="The most rows a file may have.")


class ImportAcceptedSerializer(serializers.Serializer[Any]):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
    rows = serializers.IntegerField()


class EraseRequestSerializer(StrictSerializer):
    confirm = serializers.CharField(
        max_length=64, help_text="The client's id again: erasure cannot be undone, so the body must name it."
    )


class ErasureResultSerializer(serializers.Serializer[Any]):
    client_id = serializers.UUIDField()
    suppressed = serializers.ListField(
        child=serializers.CharField(),
        help_text="The addresses (`email`, `phone`) whose keyed hash is now on the suppression list.",
    )
    deleted = serializers.DictField(child=serializers.IntegerField(), help_text="Rows removed, per table.")
    unlinked = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rows kept without their client (appointments, sales), per table."
    )
    redacted = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rows whose free text named the person, now `[erased]`, per table."
    )
