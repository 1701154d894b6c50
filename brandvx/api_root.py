"""The way in: `/api/v1/` lists the API's resources (links a person can follow in the
browsable API, or a client can read), with the documentation; `/` leads there."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.query import StrictQueryParametersMixin

# (key in the answer, URL name): the resources, in the order a person meets them.
RESOURCES = (
    ("me", "me"),
    ("clients", "client-list"),
    ("client_birthdays", "client-birthdays"),
    ("client_duplicates", "client-duplicates"),
    ("client_import", "client-import"),
    ("client_export", "client-export"),
    ("tags", "tag-list"),
    ("service_categories", "service-category-list"),
    ("services", "service-list"),
    ("appointments", "appointment-list"),
    ("transactions", "transaction-list"),
    ("analytics_dashboard", "analytics-dashboard"),
    ("analytics_revenue_by_service", "analytics-revenue-by-service"),
    ("analytics_revenue_timeseries", "analytics-revenue-timeseries"),
    ("analytics_top_clients", "analytics-top-clients"),
    ("campaign_settings", "campaigns-settings"),
    ("birthday_batch", "birthday-batch"),
    ("message_drafts", "message-draft-list"),
    ("integrations", "integration-list"),
    ("jobs", "job-list"),
    ("audit_log", "audit-log-list"),
    ("change_log", "change-log-list"),
)
DOCUMENTS = (("docs", "docs"), ("redoc", "redoc"), ("schema", "schema"))


class ApiRootView(StrictQueryParametersMixin, APIView):
    """The API's resources and its documentation (Swagger UI, ReDoc, the OpenAPI schema), as
    links. Open to everyone: it names no tenant's data."""

    permission_classes = [permissions.AllowAny]
    name = "BrandVX API"

    @extend_schema(
        summary="List the API's resources and documentation",
        tags=["account"],
        responses=inline_serializer(
            "ApiRoot",
            {key: serializers.URLField() for key, _ in (*RESOURCES, *DOCUMENTS)},
        ),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({key: request.build_absolute_uri(reverse(name)) for key, name in (*RESOURCES, *DOCUMENTS)})
