"""Connections (owner_admin only), sync requests, and the custom CRM push endpoint."""

from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import InvalidInput
from common.parsers import StrictJSONParser
from common.query import StrictQueryParametersMixin
from integrations import inbound, services
from integrations.api.serializers import (
    CONNECTION_CREATE_BRANCHES,
    ApiKeySerializer,
    CustomImportSerializer,
    IntegrationConnectionCreatedSerializer,
    IntegrationConnectionCreateSerializer,
    IntegrationConnectionSerializer,
    IntegrationConnectionUpdateSerializer,
    JobCreatedSerializer,
)
from integrations.models import IntegrationConnection, Provider
from integrations.routing import unscoped_route_for_api_key
from tenants.views import OWNER_ONLY, TenantAPIView, TenantGenericViewSet

logger = logging.getLogger("brandvx.integrations")

UUID_RE = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class IntegrationConnectionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    TenantGenericViewSet[IntegrationConnection],
):
    """Provider connections. Credentials are write-only; only owner_admin may see or change them."""

    queryset = IntegrationConnection.objects.all()
    serializer_class = IntegrationConnectionSerializer
    read_roles = OWNER_ONLY
    write_roles = OWNER_ONLY
    lookup_value_regex = UUID_RE
    cursor_ordering = ("-created_at", "-id")
    filterset_fields = ["provider", "status"]
    error_statuses = {"create": {409}, "update": {409}, "partial_update": {409}}

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="IntegrationConnectionCreate",
            serializers=CONNECTION_CREATE_BRANCHES,
            resource_type_field_name="provider",
        ),
        responses={201: IntegrationConnectionCreatedSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = IntegrationConnectionCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        connection, one_time = services.connection_create(
            tenant=self.tenant,
            provider=form.validated_data["provider"],
            credentials=form.validated_data["credentials"],
            config=form.validated_data["config"],
            acting_user=self.membership.user,
        )
        connection.api_key = one_time.get("api_key")  # type: ignore[attr-defined]  # shown once, by the serializer
        body = IntegrationConnectionCreatedSerializer(connection, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=IntegrationConnectionUpdateSerializer, responses=IntegrationConnectionSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        connection = self.get_object()
        form = IntegrationConnectionUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        connection = services.connection_update(
            tenant=self.tenant, connection=connection, acting_user=self.membership.user, **form.validated_data
        )
        return Response(self.get_serializer(connection).data)

    @extend_schema(request=None, responses=IntegrationConnectionSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str | None = None) -> Response:
        connection = services.connection_disable(
            tenant=self.tenant, connection=self.get_object(), acting_user=self.membership.user
        )
        return Response(self.get_serializer(connection).data)

    @extend_schema(summary="Replace the custom CRM's API key", request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request: Request, pk: str | None = None) -> Response:
        api_key = services.connection_rotate_api_key(
            tenant=self.tenant, connection=self.get_object(), acting_user=self.membership.user
        )
        return Response({"api_key": api_key})


class IntegrationSyncView(TenantAPIView):
    """Queue a sync of the tenant's connection to `provider`: 202 with the job to poll."""

    read_roles = OWNER_ONLY
    write_roles = OWNER_ONLY
    error_statuses = {"post": {409, 503}}

    @extend_schema(
        request=None,
        responses={202: JobCreatedSerializer},
        parameters=[OpenApiParameter("provider", str, OpenApiParameter.PATH, enum=Provider.values)],
    )
    def post(self, request: Request, provider: str) -> Response:
        job = services.sync_request(tenant=self.tenant, provider=provider, acting_user=self.membership.user)
        return Response({"job_id": str(job.id)}, status=status.HTTP_202_ACCEPTED)


class CustomCrmImportView(StrictQueryParametersMixin, APIView):
    """A custom CRM pushes contacts (and transactions). Authenticated by the connection's API
    key in the `X-BrandVX-Key` header (never the query string); the key picks the tenant."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]
    parser_classes = [StrictJSONParser]
    error_statuses = {"post": {401, 404}}

    @extend_schema(
        request=CustomImportSerializer,
        auth=[],
        responses={200: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("X-BrandVX-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request: Request) -> Response:
        route = unscoped_route_for_api_key(request.headers.get("X-BrandVX-Key", ""))
        if route is None:
            return Response(
                {"code": "not_authenticated", "detail": "A valid X-BrandVX-Key header is required."},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": 'APIKey header="X-BrandVX-Key"'},
            )
        body = CustomImportSerializer(data=request.data)
        if not body.is_valid():
            name, messages = next(iter(body.errors.items()))
            raise InvalidInput(name, str(messages[0] if isinstance(messages, list) else messages))
        result = inbound.custom_crm_import(
            tenant_id=route.tenant_id, connection_id=route.connection_id, payload=request.data
        )
        return Response(result)
