"""The campaigns API: settings, birthday batches, message drafts. Serializer errors reach the
caller as DRF's ValidationError (`validation_error`, every bad field in `fields`); the
services' domain errors through the one mapping (common.http_errors)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns import services
from campaigns.api.filters import MessageDraftFilter
from campaigns.api.serializers import (
    DRAFT_ROW_FIELDS,
    BirthdayBatchRequestSerializer,
    BulkApproveRequestSerializer,
    BulkApproveResultSerializer,
    CampaignSettingsSerializer,
    JobAcceptedSerializer,
    MessageDraftBodySerializer,
    MessageDraftSerializer,
    draft_json,
)
from campaigns.models import MessageDraft
from common.errors import InvalidInput
from tenants.views import OWNER_ONLY, TenantAPIView, TenantGenericViewSet


class BirthdayBatchView(TenantAPIView):
    """Queue a birthday batch: one draft per client with a birthday in the window."""

    error_statuses = {"post": {503}}

    @extend_schema(request=BirthdayBatchRequestSerializer, responses={202: JobAcceptedSerializer})
    def post(self, request: Request) -> Response:
        serializer = BirthdayBatchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = services.birthday_batch_start(
            tenant=self.tenant,
            acting_user=self.membership.user,
            days_ahead=data["days_ahead"],
            start=data.get("from"),
            channel=data.get("channel"),
        )
        return Response({"job_id": job.id}, status=status.HTTP_202_ACCEPTED)


class CampaignSettingsView(TenantAPIView):
    """The tenant's birthday template, daily run schedule and senders. Owner/admin writes."""

    write_roles = OWNER_ONLY

    @extend_schema(summary="Read the campaign settings", responses=CampaignSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(CampaignSettingsSerializer(services.campaign_settings_get(tenant=self.tenant)).data)

    @extend_schema(
        summary="Change the campaign settings", request=CampaignSettingsSerializer, responses=CampaignSettingsSerializer
    )
    def patch(self, request: Request) -> Response:
        # `null` or a list is valid JSON but no object: the serializer below refuses it with a 400.
        if isinstance(request.data, dict) and "email_from_address" in request.data:
            # Named, not silently dropped: a client that sets it must learn it has no effect.
            raise InvalidInput(
                "email_from_address",
                "birthday emails are sent from the platform's verified sender; set email_reply_to to the "
                "salon's address (replies go there)",
            )
        serializer = CampaignSettingsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        updated = services.campaign_settings_update(
            tenant=self.tenant, changes=dict(serializer.validated_data), acting_user=self.membership.user
        )
        return Response(CampaignSettingsSerializer(updated).data)


class MessageDraftViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet[MessageDraft]):
    """Drafts of the tenant: list and filter, edit the text, approve (queues sending), discard."""

    queryset = MessageDraft.objects.select_related("client")
    serializer_class = MessageDraftSerializer
    filterset_class = MessageDraftFilter
    cursor_ordering = ("occasion_date", "id")
    error_statuses = {"partial_update": {409}, "approve": {409}, "discard": {409}}

    # The (filtered) drafts, a page at a time, read as rows with their client's name
    # (MessageDraftSerializer's JSON, built by draft_json). A comment, not a docstring: the
    # schema would take it as the operation's description.
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rows = self.filter_queryset(self.get_queryset()).values(*DRAFT_ROW_FIELDS)
        page = self.paginate_queryset(rows) or []
        return self.get_paginated_response([draft_json(row) for row in page])

    @extend_schema(request=MessageDraftBodySerializer, responses=MessageDraftSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        draft = self.get_object()
        serializer = MessageDraftBodySerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "body" not in serializer.validated_data:  # PATCH with nothing to change
            return Response(MessageDraftSerializer(draft).data)
        draft = services.draft_update_body(
            tenant=self.tenant,
            draft_id=draft.id,
            body=serializer.validated_data["body"],
            acting_user=self.membership.user,
        )
        return Response(MessageDraftSerializer(draft).data)

    @extend_schema(
        request=None,
        responses={200: MessageDraftSerializer, 202: MessageDraftSerializer},
        description="Approve a draft and queue it for sending: 200. An SMS approved outside the tenant's "
        "quiet-hours window (campaign settings `sms_window_start`/`sms_window_end`) is approved and held: "
        "202, with `send_after` (the window's next start), when a worker sends it.",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        draft = services.draft_approve(
            tenant=self.tenant, draft_id=self.get_object().id, acting_user=self.membership.user
        )
        deferred = draft.status == MessageDraft.Status.APPROVED and draft.send_after is not None
        return Response(
            MessageDraftSerializer(draft).data, status=status.HTTP_202_ACCEPTED if deferred else status.HTTP_200_OK
        )

    @extend_schema(request=None, responses=MessageDraftSerializer)
    @action(detail=True, methods=["post"])
    def discard(self, request: Request, pk: str | None = None) -> Response:
        draft = services.draft_discard(
            tenant=self.tenant, draft_id=self.get_object().id, acting_user=self.membership.user
        )
        return Response(MessageDraftSerializer(draft).data)

    @extend_schema(
        summary="Approve several message drafts",
        request=BulkApproveRequestSerializer,
        responses=BulkApproveResultSerializer,
    )
    @action(detail=False, methods=["post"], url_path="bulk-approve")
    def bulk_approve(self, request: Request) -> Response:
        serializer = BulkApproveRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.drafts_bulk_approve(
            tenant=self.tenant, draft_ids=serializer.validated_data["ids"], acting_user=self.membership.user
        )
        return Response(BulkApproveResultSerializer(result).data)
