"""Analytics endpoints: thin. Parse, call a service or selector, respond."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, TypeVar

from django.db.models import Model, Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from analytics import selectors, services
from analytics.api import serializers as s
from analytics.api.filters import AppointmentFilterSet, ServiceFilterSet, TransactionFilterSet
from analytics.models import Appointment, Refund, Service, ServiceCategory, Transaction, TransactionLineItem
from analytics.periods import validate_period
from analytics.rules import DEFAULT_TOP_CLIENTS, INTERVALS, MAX_TOP_CLIENTS
from common.errors import InvalidInput
from common.validation import DATE_SCHEMA, RANGE_TEXT, parse_query_date, parse_query_int
from tenants.models import User
from tenants.views import OWNER_ONLY, TenantAPIView, TenantModelViewSet

_M = TypeVar("_M", bound=Model)


class _ServiceBackedViewSet(TenantModelViewSet[_M]):
    """CRUD whose writes go through analytics.services (validation, tenant checks). A value
    that must be unique and is already used (a name, a source's external id) is a 409
    `conflict` (common.errors.Conflict)."""

    error_statuses = {"create": {409}, "update": {409}, "partial_update": {409}}

    @property
    def acting_user(self) -> User:
        """The member acting (an authenticated member: TenantScopedMixin checked it)."""
        return self.membership.user

    def _create(self, data: dict[str, Any]) -> _M:
        raise NotImplementedError

    def _update(self, instance: _M, data: dict[str, Any]) -> _M:
        raise NotImplementedError

    def _delete(self, instance: _M) -> None:
        raise NotImplementedError

    def perform_create(self, serializer: BaseSerializer[_M]) -> None:
        serializer.instance = self._create(dict(serializer.validated_data))

    def perform_update(self, serializer: BaseSerializer[_M]) -> None:
        assert serializer.instance is not None  # an update has its instance
        serializer.instance = self._update(serializer.instance, dict(serializer.validated_data))

    def perform_destroy(self, instance: _M) -> None:
        self._delete(instance)


class ServiceCategoryViewSet(_ServiceBackedViewSet[ServiceCategory]):
    """The salon's service categories (Color, Cuts, Nails, ...)."""

    queryset = ServiceCategory.objects.all()
    serializer_class = s.ServiceCategorySerializer
    filterset_fields = ["source"]
    cursor_ordering = ("name", "id")

    def _create(self, data: dict[str, Any]) -> ServiceCategory:
        return services.service_category_create(tenant=self.tenant, acting_user=self.acting_user, **data)

    def _update(self, instance: ServiceCategory, data: dict[str, Any]) -> ServiceCategory:
        return services.service_category_update(
            tenant=self.tenant, category_id=instance.id, acting_user=self.acting_user, **data
        )

    def _delete(self, instance: ServiceCategory) -> None:
        services.service_category_delete(tenant=self.tenant, category_id=instance.id, acting_user=self.acting_user)


class ServiceViewSet(_ServiceBackedViewSet[Service]):
    """The service catalog: name, category, duration, price (minor units + currency)."""

    queryset = Service.objects.select_related("category")
    serializer_class = s.ServiceSerializer
    filterset_class = ServiceFilterSet
    cursor_ordering = ("name", "id")

    def _create(self, data: dict[str, Any]) -> Service:
        return services.service_create(tenant=self.tenant, acting_user=self.acting_user, **data)

    def _update(self, instance: Service, data: dict[str, Any]) -> Service:
        return services.service_update(tenant=self.tenant, service_id=instance.id, acting_user=self.acting_user, **data)

    def _delete(self, instance: Service) -> None:
        services.service_delete(tenant=self.tenant, service_id=instance.id, acting_user=self.acting_user)


class AppointmentViewSet(_ServiceBackedViewSet[Appointment]):
    """Appointments; filter by local dates (`start`, `end`), client, service, status."""

    queryset = Appointment.objects.all()
    serializer_class = s.AppointmentSerializer
    filterset_class = AppointmentFilterSet
    cursor_ordering = ("-start_at", "-id")

    def _create(self, data: dict[str, Any]) -> Appointment:
        return services.appointment_create(tenant=self.tenant, acting_user=self.acting_user, **data)

    def _update(self, instance: Appointment, data: dict[str, Any]) -> Appointment:
        return services.appointment_update(
            tenant=self.tenant, appointment_id=instance.id, acting_user=self.acting_user, **data
        )

    def _delete(self, instance: Appointment) -> None:
        services.appointment_delete(tenant=self.tenant, appointment_id=instance.id, acting_user=self.acting_user)


@extend_schema_view(
    update=extend_schema(request=s.TransactionUpdateSerializer, responses=s.TransactionSerializer),
    partial_update=extend_schema(request=s.TransactionUpdateSerializer, responses=s.TransactionSerializer),
)
class TransactionViewSet(_ServiceBackedViewSet[Transaction]):
    """Sales with their line items; filter by local dates (`start`, `end`), client,
    service, status. Deleting a sale is for owners; a refund is an action, not an edit."""

    queryset = Transaction.objects.all()
    serializer_class = s.TransactionSerializer
    filterset_class = TransactionFilterSet
    cursor_ordering = ("-occurred_at", "-id")
    action_roles = {"destroy": OWNER_ONLY}
    # A refund of what is already refunded, or of a failed sale: the sale's state (409).
    error_statuses = {**_ServiceBackedViewSet.error_statuses, "refund": {409}}

    def get_serializer_class(self) -> type[BaseSerializer[Transaction]]:
        # On update, refunded_amount is read-only (a refund is the refund action): the schema
        # says so, and the server refuses it by name.
        if self.action in ("update", "partial_update"):
            return s.TransactionUpdateSerializer
        return s.TransactionSerializer

    def get_base_queryset(self) -> QuerySet[Transaction]:
        lines = TransactionLineItem.objects.select_related("service").order_by("description", "id")
        refunds = Refund.objects.order_by("refunded_at", "id")
        return (
            super()
            .get_base_queryset()
            .prefetch_related(Prefetch("line_items", queryset=lines), Prefetch("refunds", queryset=refunds))
        )

    def _create(self, data: dict[str, Any]) -> Transaction:
        return services.transaction_create(tenant=self.tenant, acting_user=self.acting_user, **data)

    def _update(self, instance: Transaction, data: dict[str, Any]) -> Transaction:
        return services.transaction_update(
            tenant=self.tenant, transaction_id=instance.id, acting_user=self.acting_user, **data
        )

    def _delete(self, instance: Transaction) -> None:
        services.transaction_delete(tenant=self.tenant, transaction_id=instance.id, acting_user=self.acting_user)

    @extend_schema(
        summary="Refund a transaction", request=s.TransactionRefundSerializer, responses=s.TransactionSerializer
    )
    @action(detail=True, methods=["post"])
    def refund(self, request: Request, pk: uuid.UUID | None = None) -> Response:
        """Refund part or all (default) of what is left, dated `refunded_at` (default now): the
        insights count it on that date, not on the sale's. Fully refunded -> status refunded."""
        sale = self.get_object()
        body = s.TransactionRefundSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.transaction_refund(
            tenant=self.tenant,
            transaction_id=sale.id,
            amount=body.validated_data.get("amount"),
            refunded_at=body.validated_data.get("refunded_at"),
            acting_user=self.acting_user,
        )
        return Response(self.get_serializer(self.get_queryset().get(id=sale.id)).data)


# --- insights ----------------------------------------------------------------------------

PERIOD_PARAMETERS = [
    OpenApiParameter("start", DATE_SCHEMA, required=True, description=f"First local date (YYYY-MM-DD, {RANGE_TEXT})."),
    OpenApiParameter(
        "end",
        DATE_SCHEMA,
        required=True,
        description=(
            "Last local date, inclusive; on or after start and before the same date 3 years after start "
            f"(the period is shorter than 3 years; {RANGE_TEXT})."
        ),
    ),
]


def _period(request: Request) -> tuple[datetime.date, datetime.date]:
    start = parse_query_date(request.query_params.get("start"), "start", required=True)
    end = parse_query_date(request.query_params.get("end"), "end", required=True)
    assert start is not None and end is not None  # required=True: parse_query_date raised
    validate_period(start, end)  # rules between the two dates: no schema can state them
    return start, end


class DashboardView(TenantAPIView):
    """Revenue (sales on their date, refunds on theirs), gross sales, refunds, service revenue,
    tips, taxes, discounts, transactions, average ticket, new and active clients,
    returning-client, rebooking and no-show rates; each with the previous period of equal
    length and the change in percent. Every figure is defined in docs/insights.md."""

    @extend_schema(
        summary="The period's key figures, beside the previous period's",
        parameters=PERIOD_PARAMETERS,
        responses=s.DashboardSerializer,
    )
    def get(self, request: Request) -> Response:
        start, end = _period(request)
        # The selector's dict is the response: its values already have the types and rounding
        # DashboardSerializer (the schema) would give them; tests/test_insights_shapes.py
        # holds the two equal. Likewise below.
        return Response(selectors.dashboard(tenant=self.tenant, start=start, end=end))


class RevenueByServiceView(TenantAPIView):
    """Per currency, per category and per service: transactions, quantity and service revenue
    (net of the period's refunds, tips and taxes apart). Definitions: docs/insights.md."""

    @extend_schema(
        summary="Revenue per service and category", parameters=PERIOD_PARAMETERS, responses=s.RevenueByServiceSerializer
    )
    def get(self, request: Request) -> Response:
        start, end = _period(request)
        return Response(selectors.revenue_by_service(tenant=self.tenant, start=start, end=end))


class RevenueTimeseriesView(TenantAPIView):
    """Revenue (sales minus refunds, each on its own date) and transactions per day, week or
    month in the tenant's time zone, zero-filled, per currency. Definitions: docs/insights.md."""

    @extend_schema(
        summary="Revenue and transactions per day, week or month",
        parameters=[
            *PERIOD_PARAMETERS,
            OpenApiParameter("interval", str, enum=list(INTERVALS), default="day"),
        ],
        responses=s.RevenueTimeseriesSerializer,
    )
    def get(self, request: Request) -> Response:
        start, end = _period(request)
        interval = request.query_params.get("interval", "day")
        if interval not in INTERVALS:
            raise InvalidInput("interval", f"must be one of {', '.join(INTERVALS)}.")
        return Response(selectors.revenue_timeseries(tenant=self.tenant, start=start, end=end, interval=interval))


class TopClientsView(TenantAPIView):
    """The best clients by revenue in the period (their sales minus the period's refunds of
    them), per currency, with visits and last visit. Definitions: docs/insights.md."""

    @extend_schema(
        summary="The best clients by revenue",
        parameters=[
            *PERIOD_PARAMETERS,
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_TOP_CLIENTS, "default": DEFAULT_TOP_CLIENTS},
                description=f"How many clients per currency, 1 to {MAX_TOP_CLIENTS}.",
            ),
        ],
        responses=s.TopClientsSerializer,
    )
    def get(self, request: Request) -> Response:
        start, end = _period(request)
        limit = parse_query_int(
            request.query_params.get("limit"), "limit", minimum=1, maximum=MAX_TOP_CLIENTS, default=DEFAULT_TOP_CLIENTS
        )
        return Response(selectors.top_clients(tenant=self.tenant, start=start, end=end, limit=limit))
