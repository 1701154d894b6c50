from typing import Any

from django.core.validators import MaxLengthValidator
from rest_framework import serializers

from common.validation import BoundedDateField, StrictSerializer
from integrations.inbound import CUSTOM_IMPORT_MAX_RECORDS
from integrations.models import IntegrationConnection, Provider

# Credentials and settings are a few short keys per provider; bounded so nobody stores a novel.
MAX_KEYS = 20


def _credentials(**kwargs: Any) -> serializers.DictField:
    return serializers.DictField(
        child=serializers.CharField(max_length=4000, allow_blank=True),
        validators=[MaxLengthValidator(MAX_KEYS)],
        **kwargs,
    )


def _config(**kwargs: Any) -> serializers.DictField:
    return serializers.DictField(validators=[MaxLengthValidator(MAX_KEYS)], **kwargs)


class IntegrationConnectionSerializer(serializers.ModelSerializer[IntegrationConnection]):
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

    def get_credential_keys(self, obj: IntegrationConnection) -> list[str]:
        return sorted(key for key, value in (obj.credentials or {}).items() if value not in ("", None))

    def get_config(self, obj: IntegrationConnection) -> dict[str, Any]:
        return {k: v for k, v in (obj.config or {}).items() if k != "webhook_token"}

    def get_webhook_url(self, obj: IntegrationConnection) -> str | None:
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


class ApiKeySerializer(serializers.Serializer[Any]):
    api_key = serializers.CharField()


class JobCreatedSerializer(serializers.Serializer[Any]):
    job_id = serializers.UUIDField()


class CustomImportSerializer(StrictSerializer):
    contacts = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=CUSTOM_IMPORT_MAX_RECORDS
    )
    transactions = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=CUSTOM_IMPORT_MAX_RECORDS
    )


# --- the create body as the schema states it: per provider (issue 23) -----------------------
# The server checks each provider's keys (integrations.services._validate_credentials and
# _validate_config); these serializers only describe them, one `oneOf` branch per provider,
# told apart by `provider` (a discriminator). IntegrationConnectionCreateSerializer still
# parses the body.


def _secret(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=4000, **kwargs)


class SquareCredentialsSerializer(StrictSerializer):
    access_token = _secret(help_text="A Square OAuth access token (or a personal access token).")
    refresh_token = _secret(required=False)
    expires_at = _secret(required=False, help_text="When the access token expires, as Square says it.")


class SquareConfigSerializer(StrictSerializer):
    location_ids = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False), required=False, help_text="Only these locations' payments."
    )
    history_start = BoundedDateField(required=False, help_text="Import history from this date on.")


class AcuityCredentialsSerializer(StrictSerializer):
    user_id = _secret()
    api_key = _secret()


class AcuityConfigSerializer(StrictSerializer):
    history_start = BoundedDateField(required=False)
    window_days = serializers.IntegerField(min_value=1, max_value=366, required=False)
    future_days = serializers.IntegerField(min_value=1, max_value=366, required=False)


class HubSpotCredentialsSerializer(StrictSerializer):
    access_token = _secret(help_text="A HubSpot private app access token.")


class HubSpotConfigSerializer(StrictSerializer):
    birthday_property = serializers.CharField(max_length=100, trim_whitespace=False, required=False)


class NoKeysSerializer(StrictSerializer):
    """Nothing to set: the custom CRM authenticates with the API key the answer shows once."""


def _create_branch(
    name: str,
    provider: str,
    credentials: type[StrictSerializer],
    config: type[StrictSerializer],
    *,
    credentials_required: bool,
) -> type[StrictSerializer]:
    return type(
        name,
        (StrictSerializer,),
        {
            "__module__": __name__,
            "__doc__": f"Connect {Provider(provider).label}.",
            "provider": serializers.ChoiceField(choices=[provider]),
            "credentials": credentials(required=credentials_required, write_only=True),
            "config": config(required=False),
        },
    )


CONNECTION_CREATE_BRANCHES: dict[str, serializers.Serializer[Any] | type[serializers.Serializer[Any]]] = {
    Provider.SQUARE.value: _create_branch(
        "SquareConnectionCreateSerializer",
        "square",
        SquareCredentialsSerializer,
        SquareConfigSerializer,
        credentials_required=True,
    ),
    Provider.ACUITY.value: _create_branch(
        "AcuityConnectionCreateSerializer",
        "acuity",
        AcuityCredentialsSerializer,
        AcuityConfigSerializer,
        credentials_required=True,
    ),
    Provider.HUBSPOT.value: _create_branch(
        "HubSpotConnectionCreateSerializer",
        "hubspot",
        HubSpotCredentialsSerializer,
        HubSpotConfigSerializer,
        credentials_required=True,
    ),
    Provider.CUSTOM_CRM.value: _create_branch(
        "CustomCrmConnectionCreateSerializer",
        "custom_crm",
        NoKeysSerializer,
        NoKeysSerializer,
        credentials_required=False,
    ),
}
