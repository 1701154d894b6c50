from __future__ import annotations

import uuid
from typing import Any

from django.db import connections
from django.http import FileResponse, HttpRequest, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import ConfirmationMismatch
from tenants import exports, jobs, lifecycle
from tenants.api.serializers import (
    JOB_ROW_FIELDS,
    BackgroundJobSerializer,
    ChangeRecordSerializer,
    MeSerializer,
    SupportAccessSerializer,
    TenantDeleteRequestSerializer,
    TenantDeletionSerializer,
    TenantExportAcceptedSerializer,
    job_json,
    me_json,
)
from tenants.context.resolution import attached_resolution
from tenants.models import BackgroundJob, ChangeRecord, SupportAccess, User
from tenants.views import OWNER_ONLY, RequestContextMixin, TenantAPIView, TenantReadOnlyViewSet


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


class TenantLifecycleView(TenantAPIView):
    """Base of the business's own lifecycle endpoints: owner_admin only, and usable while a
    deletion is pending (the owner may still cancel it or take the data along)."""

    read_roles = OWNER_ONLY
    write_roles = OWNER_ONLY
    allowed_while_pending_deletion = True

    @property
    def acting_user(self) -> User:
        return self.membership.user


def _deletion(tenant: Any) -> dict[str, Any]:
    return {"deletion_requested_at": tenant.deletion_requested_at, "deletion_due_at": tenant.deletion_due_at}


class TenantDeleteView(TenantLifecycleView):
    error_statuses = {"post": {409}}

    @extend_schema(request=TenantDeleteRequestSerializer, responses={202: TenantDeletionSerializer})
    def post(self, request: Request) -> Response:
        """Schedule this business's deletion (owner_admin). `confirm` must be the business's name
        exactly (400 `confirmation_mismatch` otherwise). From now until `deletion_due_at`
        (TENANT_DELETION_GRACE_DAYS, 14 by default) the business is read-only: every other write
        answers 423 `tenant_pending_deletion`; the owner can still export the data and cancel the
        deletion. Then every row of the business is purged, and only a tombstone (the id, a keyed
        hash of the name, the dates) remains. 409 `deletion_state` when already scheduled."""
        body = TenantDeleteRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data["confirm"] != self.tenant.name:
            raise ConfirmationMismatch()
        tenant = lifecycle.tenant_deletion_request(tenant=self.tenant, acting_user=self.acting_user)
        return Response(TenantDeletionSerializer(_deletion(tenant)).data, status=202)


class TenantDeleteCancelView(TenantLifecycleView):
    error_statuses = {"post": {409}}

    @extend_schema(request=None, responses=TenantDeletionSerializer)
    def post(self, request: Request) -> Response:
        """Cancel this business's scheduled deletion (owner_admin); it is writable again at once.
        409 `deletion_state` when no deletion is scheduled."""
        tenant = lifecycle.tenant_deletion_cancel(tenant=self.tenant, acting_user=self.acting_user)
        return Response(TenantDeletionSerializer(_deletion(tenant)).data)


class TenantExportView(TenantLifecycleView):
    error_statuses = {"post": {503}}

    @extend_schema(request=None, responses={202: TenantExportAcceptedSerializer})
    def post(self, request: Request) -> Response:
        """Export every row of this business (owner_admin): a background job writes a ZIP with one
        JSON Lines file per table and `manifest.json` (format version, each app's schema
        migration, each file's row count; encrypted credentials left out). Poll
        `/api/v1/jobs/{job_id}/`, then download it from `/api/v1/tenant/export/{job_id}/download/`
        for 7 days (TENANT_EXPORT_AVAILABLE_DAYS)."""
        job = exports.tenant_export_start(tenant=self.tenant, acting_user=self.acting_user)
        return Response({"job_id": str(job.id), "status": job.status}, status=202)


class TenantExportDownloadView(TenantLifecycleView):
    error_statuses = {"get": {410}}

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, job_id: uuid.UUID) -> FileResponse:
        """The finished export's ZIP, streamed (owner_admin; recorded in the change log as
        `tenant.export_downloaded`). 404 for a job that is not a finished export of this
        business; 410 `export_expired` once it is older than 7 days."""
        path = exports.tenant_export_file(tenant=self.tenant, job_id=job_id, acting_user=self.acting_user)
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type="application/zip")


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
