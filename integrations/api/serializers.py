from rest_framework import serializers

from integrations.models import IntegrationConnection, Provider


class IntegrationConnectionSerializer(serializers.ModelSerializer):
    """What the owner sees of a connection. Credentials never leave the server: only the
    names of the keys that are set."""

    credential_keys = serializers.SerializerMethodField()
    config = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField()
    checkpoints = serializers.JSONField(source="cursors", read_only=True)

    class Meta:
        model = IntegrationConnection
        fields = ["id", "provider", "status", "config", "credential_keys", "webhook_url", "checkpoints",
                  "last_sync_at", "last_error", "created_at", "updated_at"]
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
    api_key = serializers.CharField(read_only=True, allow_null=True, help_text=(
        "Custom CRM only: the key to send as `X-BrandVX-Key`. Shown once; store it now."))

    class Meta(IntegrationConnectionSerializer.Meta):
        fields = [*IntegrationConnectionSerializer.Meta.fields, "api_key"]
        read_only_fields = fields


class IntegrationConnectionCreateSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=Provider.choices)
    credentials = serializers.DictField(write_only=True, required=False, default=dict)
    config = serializers.DictField(required=False, default=dict)


class IntegrationConnectionUpdateSerializer(serializers.Serializer):
    credentials = serializers.DictField(write_only=True, required=False)
    config = serializers.DictField(required=False)
    status = serializers.ChoiceField(choices=["active", "disabled"], required=False)


class ApiKeySerializer(serializers.Serializer):
    api_key = serializers.CharField()


class JobCreatedSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()


class CustomImportSerializer(serializers.Serializer):
    contacts = serializers.ListField(child=serializers.DictField(), required=False)
    transactions = serializers.ListField(child=serializers.DictField(), required=False)
