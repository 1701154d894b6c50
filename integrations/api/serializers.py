from django.core.validators import MaxLengthValidator
from rest_framework import serializers

from brandvx.validation import StrictSerializer
from integrations.models import IntegrationConnection, Provider
from integrations.services import CUSTOM_IMPORT_MAX_RECORDS

# Credentials and settings are a few short keys per provider; bounded so nobody stores a novel.
MAX_KEYS = 20


def _credentials(**kwargs) -> serializers.DictField:
    return serializers.DictField(
        child=serializers.CharField(max_length=4000, allow_blank=True),
        validators=[MaxLengthValidator(MAX_KEYS)],
        **kwargs,
    )


def _config(**kwargs) -> serializers.DictField:
    return serializers.DictField(validators=[MaxLengthValidator(MAX_KEYS)], **kwargs)


class IntegrationConnectionSerializer(serializers.ModelSerializer):
    """What the owner sees of a connection. Credentials never leave the server: only the
    names of the keys that are set."""

    credential_keys = serializers.SerializerMethodField()
    config = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField()
    checkpoints = serializers.JSONField(source="cursors", read_only=True)

    class Meta:
        model = IntegrationConnection
        fields = [
            "id",
            "provider",
            "status",
            "config",
            "credential_keys",
            "webhook_url",
            "checkpoints",
            "last_sync_at",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_credential_keys(self, obj) -> list[str]:
        return sorted(key for key, value in (obj.credentials or {}).items() if value not in ("", None))

    def get_config(self, obj) -> dict:
        return {k: v for k, v in (obj.config or {}).items() if k != "webhook_token"}

    def get_webhook_url(self, obj) -> str | None:
        token = (obj.config or {}).get("webhook_token")
        if obj.provider != Provider.ACUITY or not token:
            return None
        path = f"/api/v1/webhooks/acuity/{token}/"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class IntegrationConnectionCreatedSerializer(IntegrationConnectionSerializer):
    api_key = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text=("Custom CRM only: the key to send as `X-BrandVX-Key`. Shown once; store it now."),
    )

    class Meta(IntegrationConnectionSerializer.Meta):
        fields = [*IntegrationConnectionSerializer.Meta.fields, "api_key"]
        read_only_fields = fields


class IntegrationConnectionCreateSerializer(StrictSerializer):
    provider = serializers.ChoiceField(choices=Provider.choices)
    credentials = _credentials(write_only=True, required=False, default=dict)
    config = _config(required=False, default=dict)


class IntegrationConnectionUpdateSerializer(StrictSerializer):
    credentials = _credentials(write_only=True, required=False)
    config = _config(required=False)
    status = serializers.ChoiceField(choices=["active", "disabled"], required=False)


class ApiKeySerializer(serializers.Serializer):
    api_key = serializers.CharField()


class JobCreatedSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()


class CustomImportSerializer(StrictSerializer):
    contacts = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=CUSTOM_IMPORT_MAX_RECORDS
    )
    transactions = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=CUSTOM_IMPORT_MAX_RECORDS
    )
