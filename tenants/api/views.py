from __future__ import annotations

from typing import Any

from django.db import connections
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants import jobs
from tenants.api.serializers import (
    JOB_ROW_FIELDS,
    BackgroundJobSerializer,
    ChangeRecordSerializer,
    MeSerializer,
    SupportAccessSerializer,
    job_json,
    me_json,
)
from tenants.models import BackgroundJob, ChangeRecord, SupportAccess
from tenants.resolution import attached_resolution
from tenants.views import OWNER_ONLY, RequestContextMixin, TenantReadOnlyViewSet


class MeView(RequestContextMixin, APIView):
    """The caller, the tenant this request acts in, and all their memberships."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="Who you are, the tenant this call acts in, and your memberships", responses=MeSerializer)
    def get(self, request: Request) -> Response:
        resolution = attached_resolution(request._request)
        assert resolution is not None  # IsAuthenticated passed: the middleware resolved the caller
        return Response(
            me_json(
                user_id=request.user.id,
                email=getattr(request.user, "email", ""),
                membership=resolution.membership,
                memberships=resolution.memberships,
            )
        )


class BackgroundJobViewSet(TenantReadOnlyViewSet[BackgroundJob]):
    """Background jobs of the current tenant, for polling: status, progress, counts, errors."""

    queryset = BackgroundJob.objects.all()
    serializer_class = BackgroundJobSerializer
    filterset_fields = ["kind", "status"]
    action_roles = {"cancel": frozenset({"owner_admin", "staff"})}
    error_statuses = {"cancel": {409}}

    # The (filtered) jobs, a page at a time, read as rows (BackgroundJobSerializer's JSON, built
    # by job_json). A comment, not a docstring: the schema would take it as the description.
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rows = self.filter_queryset(self.get_queryset()).values(*JOB_ROW_FIELDS)
        page = self.paginate_queryset(rows)
        if page is None:  # no pagination class
            return Response([job_json(row) for row in rows])
        return self.get_paginated_response([job_json(row) for row in page])

    @extend_schema(request=None, responses=BackgroundJobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        job = jobs.job_cancel(job_id=job.id)
        return Response(BackgroundJobSerializer(job).data)


class SupportAccessViewSet(TenantReadOnlyViewSet[SupportAccess]):
    """Every access of platform support staff to this tenant's data (owner_admin only)."""

    queryset = SupportAccess.objects.select_related("staff_user")
    serializer_class = SupportAccessSerializer
    read_roles = OWNER_ONLY
    filterset_fields = ["action"]
    cursor_ordering = ("-occurred_at", "-id")


class ChangeRecordViewSet(TenantReadOnlyViewSet[ChangeRecord]):
    """Who changed what in this tenant's data: users, provider syncs, system jobs and support
    staff inside the tenant (owner_admin only). Append-only; field names, never values."""

    queryset = ChangeRecord.objects.all()
    serializer_class = ChangeRecordSerializer
    read_roles = OWNER_ONLY
    filterset_fields = ["action", "actor_kind", "object_type", "object_id"]
    cursor_ordering = ("-occurred_at", "-id")


def healthz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachability, without authentication. 503 if either is down."""
    checks: dict[str, Any] = {}
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    try:
        from brandvx.celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception:
        checks["broker"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503)
