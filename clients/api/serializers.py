from __future__ import annotations

from rest_framework import serializers

from clients.models import Client, Source, Tag


def birthday_text(client: Client) -> str | None:
    """ISO date when the year is known, else the ISO 8601 '--MM-DD' form."""
    if client.birthday_month is None:
        return None
    if client.birth_year:
        return f"{client.birth_year:04d}-{client.birthday_month:02d}-{client.birthday_day:02d}"
    return f"--{client.birthday_month:02d}-{client.birthday_day:02d}"


class ExternalIdSerializer(serializers.Serializer):
    provider = serializers.CharField()
    external_id = serializers.CharField()


class ClientSerializer(serializers.ModelSerializer):
    """A client as read. Writes go through ClientWriteSerializer and the services."""

    display_name = serializers.CharField(read_only=True)
    birthday = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    external_ids = ExternalIdSerializer(many=True, read_only=True)

    class Meta:
        model = Client
        fields = [
            "id", "first_name", "last_name", "display_name", "email", "phone", "phone_extension", "birthday_month",
            "birthday_day", "birth_year", "birthday", "notes", "source", "email_consent", "email_consent_at", "sms_consent",
            "sms_consent_at", "tags", "external_ids", "archived_at", "created_at", "updated_at",
        ]
        read_only_fields = fields

    def get_birthday(self, client) -> str | None:
        return birthday_text(client)

    def get_tags(self, client) -> list[str]:
        # Uses the prefetched links (selectors.client_list): no query per client.
        return sorted((link.tag.name for link in client.client_tags.all()), key=str.lower)


class ClientWriteSerializer(serializers.Serializer):
    """Shapes and types only; normalization (email, phone in the tenant's country), birthday
    rules and consent times are the services' job, and their errors name the field too.
    Defaults apply to PUT (a full replacement); PATCH sends only what changes."""

    first_name = serializers.CharField(max_length=100, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=100, allow_blank=True, default="")
    email = serializers.CharField(max_length=254, allow_blank=True, default="", trim_whitespace=True)
    phone = serializers.CharField(max_length=40, allow_blank=True, default="")
    birthday_month = serializers.IntegerField(min_value=1, max_value=12, allow_null=True, default=None)
    birthday_day = serializers.IntegerField(min_value=1, max_value=31, allow_null=True, default=None)
    birth_year = serializers.IntegerField(min_value=1900, max_value=9999, allow_null=True, default=None)
    notes = serializers.CharField(allow_blank=True, default="", trim_whitespace=False, max_length=10_000)
    source = serializers.ChoiceField(choices=Source.choices, default=Source.MANUAL)
    email_consent = serializers.BooleanField(default=False)
    sms_consent = serializers.BooleanField(default=False)


class TagSerializer(serializers.ModelSerializer):
    client_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Tag
        fields = ["id", "name", "client_count", "created_at"]
        read_only_fields = fields


class TagNameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class ClientTagResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    created = serializers.BooleanField()
    client = ClientSerializer()


class UpcomingBirthdaySerializer(serializers.Serializer):
    client = ClientSerializer()
    date = serializers.DateField()
    days_until = serializers.IntegerField()
    turning = serializers.IntegerField(allow_null=True)


class BirthdaysSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="The first day of the window (the `from` parameter).")
    end = serializers.DateField()
    days_ahead = serializers.IntegerField()
    count = serializers.IntegerField()
    results = UpcomingBirthdaySerializer(many=True)


class DuplicateGroupSerializer(serializers.Serializer):
    reasons = serializers.ListField(child=serializers.ChoiceField(choices=["email", "phone"]))
    clients = ClientSerializer(many=True)


class DuplicatesSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    groups = DuplicateGroupSerializer(many=True)


class MergeRequestSerializer(serializers.Serializer):
    source = serializers.UUIDField(help_text="Merged away (deleted).")
    target = serializers.UUIDField(help_text="Kept: receives the source's tags, ids and history.")


class MergeResultSerializer(serializers.Serializer):
    client = ClientSerializer()
    moved = serializers.DictField(child=serializers.IntegerField())
    conflicts = serializers.DictField(child=serializers.IntegerField())


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField()


class ImportAcceptedSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
    rows = serializers.IntegerField()
