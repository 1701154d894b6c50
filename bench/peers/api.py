"""The peers' client list: the fields and shape of /api/v1/clients/ (clients.api), with
DRF's ModelSerializer and cursor pagination, tags and external ids prefetched."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from rest_framework import generics, pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response


class CursorPage(pagination.CursorPagination):
    page_size = 50
    ordering = ("-created_at", "-id")
    request: Request  # set by paginate_queryset

    def get_paginated_response(self, data: list[dict[str, Any]]) -> Response:
        # Each row links to its detail, as this project's list rows do (common.pagination):
        # the same body, the same work per row.
        prefix = self.request.build_absolute_uri(PROJECT_CLIENTS_PATH)
        for item in data:
            item["url"] = f"{prefix}{item['id']}/"
        return super().get_paginated_response(data)


PROJECT_CLIENTS_PATH = "/api/v1/clients/"


class ExternalIdSerializer(serializers.Serializer[Any]):
    provider = serializers.CharField()
    external_id = serializers.CharField()


# A peer's model class: each peer app declares its own (the peers' frameworks ship no type hints).
PeerModel = Any


def client_serializer(client_model: PeerModel) -> type[serializers.ModelSerializer[Any]]:
    class ClientSerializer(serializers.ModelSerializer[Any]):
        display_name = serializers.CharField(read_only=True)
        birthday = serializers.SerializerMethodField()
        tags = serializers.SerializerMethodField()
        external_ids = ExternalIdSerializer(many=True, read_only=True)

        class Meta:
            model = client_model
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

        def get_birthday(self, client: Any) -> str | None:
            if client.birthday_month is None:
                return None
            if client.birth_year:
                return f"{client.birth_year:04d}-{client.birthday_month:02d}-{client.birthday_day:02d}"
            return f"--{client.birthday_month:02d}-{client.birthday_day:02d}"

        def get_tags(self, client: Any) -> list[str]:
            return sorted((link.tag.name for link in client.client_tags.all()), key=str.lower)

    return ClientSerializer


def client_queryset(
    client_model: PeerModel, client_tag_model: PeerModel, external_id_model: PeerModel, **tenant_filter: Any
) -> QuerySet[Any]:
    """The list's rows and prefetches, filtered by `tenant_filter` (empty: isolation does it)."""
    rows: QuerySet[Any] = client_model.objects.filter(**tenant_filter).prefetch_related(
        Prefetch(
            "client_tags",
            queryset=client_tag_model.objects.filter(**tenant_filter).select_related("tag").order_by("tag__name"),
        ),
        Prefetch(
            "external_ids",
            queryset=external_id_model.objects.filter(**tenant_filter).order_by("provider", "external_id"),
        ),
    )
    return rows


class ClientListBase(generics.ListAPIView[Any]):
    pagination_class = CursorPage
