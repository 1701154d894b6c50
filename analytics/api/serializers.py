"""Shapes of the analytics API. Input is parsed here; rules live in analytics.rules and analytics.services."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.models import Appointment, Refund, Service, ServiceCategory, Transaction, TransactionLineItem
from analytics.rules import (
    INTERVALS,
    ISO_CURRENCIES,
    MAX_DURATION_MINUTES,
    MAX_LINE_ITEMS,
    MAX_MINOR_UNITS,
    MAX_QUANTITY,
    REBOOKING_WINDOW_DAYS,
)
from common.validation import BoundedDateTimeField, StrictModelSerializer, StrictSerializer

_INTEGER = re.compile(r"^-?\d+$")
_MAX_WHOLE_QUANTITY = int(MAX_QUANTITY)


class MinorUnitsField(serializers.IntegerField):
    """An amount in minor units. DRF's IntegerField turns 12.0 and "12.00" into 12; money
    must not be guessed at, so anything but a whole number is refused."""

    default_error_messages = {"invalid": "Must be an integer amount in minor units (cents), e.g. 1250 for 12.50."}
    request_only_limits = True  # stored amounts (imports, sums of lines) may exceed what one may send

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_MINOR_UNITS)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not (isinstance(data, int) or (isinstance(data, str) and _INTEGER.match(data))):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- catalog -----------------------------------------------------------------------------

QUANTITY_PATTERN = r"^(?=.*[1-9])[0-9]{1,9}(\.[0-9]{1,3})?$"


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": QUANTITY_PATTERN, "example": "1.5"},
            {"type": "integer", "minimum": 1, "maximum": _MAX_WHOLE_QUANTITY},
        ],
        "description": "Positive, at most 3 decimals: a decimal string, or a whole number. Default 1.",
    }
)
class QuantityField(serializers.DecimalField):
    """numeric(12, 3), positive. Fractions come as strings ("1.5"): a JSON float (1.1) is
    not exact, so only whole JSON numbers are taken as they are."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=12, decimal_places=3, coerce_to_string=True, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if (
            isinstance(data, bool)
            or isinstance(data, float)
            or not (
                (isinstance(data, int) and 1 <= data <= _MAX_WHOLE_QUANTITY)
                or (isinstance(data, str) and re.fullmatch(QUANTITY_PATTERN, data))
            )
        ):
            self.fail("invalid")
        return super().to_internal_value(data)


def currency_field(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=sorted(ISO_CURRENCIES), **kwargs)


class ServiceCategorySerializer(StrictModelSerializer):
    class Meta:
        model = ServiceCategory
        fields = ["id", "name", "source", "external_id", "created_at"]
        read_only_fields = ["id", "created_at"]
        # The services check uniqueness (case-insensitive name, external id) themselves.
        validators: list[Any] = []


class ServiceSerializer(StrictModelSerializer):
    category = serializers.UUIDField(source="category_id", allow_null=True, required=False)
    # A method, not source="category.name": DRF drops a dotted read-only field from PATCH
    # responses when the relation is empty, so the documented field would be missing.
    category_name = serializers.SerializerMethodField()
    duration_minutes = serializers.IntegerField(min_value=1, max_value=MAX_DURATION_MINUTES, required=False)
    price_amount = MinorUnitsField(required=False)
    currency = currency_field(required=False, help_text="ISO 4217; defaults to the tenant's.")

    class Meta:
        model = Service
        fields = [
            "id",
            "name",
            "category",
            "category_name",
            "duration_minutes",
            "price_amount",
            "price_is_variable",
            "currency",
            "is_active",
            "source",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "price_is_variable", "created_at", "updated_at"]
        validators: list[Any] = []

    def get_category_name(self, service: Service) -> str | None:
        return service.category.name if service.category else None


# --- appointments ------------------------------------------------------------------------


class AppointmentSerializer(StrictModelSerializer):
    client = serializers.UUIDField(source="client_id", allow_null=True, required=False)
    service = serializers.UUIDField(source="service_id", allow_null=True, required=False)
    start_at = BoundedDateTimeField()
    end_at = BoundedDateTimeField(required=False, help_text="Defaults to start_at + the service's duration.")
    price_amount = MinorUnitsField(required=False, help_text="Defaults to the service's price.")
    currency = currency_field(required=False)

    class Meta:
        model = Appointment
        fields = [
            "id",
            "client",
            "service",
            "staff_name",
            "start_at",
            "end_at",
            "status",
            "price_amount",
            "currency",
            "source",
            "external_id",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []


# --- transactions ------------------------------------------------------------------------


class TransactionLineItemSerializer(StrictModelSerializer):
    service = serializers.UUIDField(source="service_id", allow_null=True, required=False)
    service_name = serializers.SerializerMethodField()  # see ServiceSerializer.category_name
    quantity = QuantityField(required=False)
    amount = MinorUnitsField(help_text="Line total in minor units, in the transaction's currency.")

    def get_service_name(self, line: TransactionLineItem) -> str | None:
        return line.service.name if line.service else None

    class Meta:
        model = TransactionLineItem
        fields = ["id", "service", "service_name", "description", "quantity", "amount"]
        read_only_fields = ["id"]


class RefundSerializer(serializers.ModelSerializer[Refund]):
    class Meta:
        model = Refund
        fields = ["id", "amount", "currency", "refunded_at", "source", "external_id"]
        read_only_fields = fields


class TransactionSerializer(StrictModelSerializer):
    client = serializers.UUIDField(source="client_id", allow_null=True, required=False)
    occurred_at = BoundedDateTimeField()
    total_amount = MinorUnitsField(
        required=False, help_text="What the client paid, tip and tax included. Defaults to the line items + tip + tax."
    )
    refunded_amount = MinorUnitsField(
        required=False, help_text="On create only (one refund dated at occurred_at); later, use the refund action."
    )
    tip_amount = MinorUnitsField(required=False, help_text="Part of total_amount that is a tip (default 0).")
    tax_amount = MinorUnitsField(required=False, help_text="Part of total_amount that is tax (default 0).")
    discount_amount = MinorUnitsField(
        required=False, help_text="Taken off the price, already out of total_amount (default 0)."
    )
    currency = currency_field(required=False, help_text="ISO 4217; defaults to the tenant's.")
    line_items = TransactionLineItemSerializer(  # type: ignore[call-arg]  # max_length: many=True's ListSerializer
        many=True,
        required=False,
        max_length=MAX_LINE_ITEMS,
        help_text=f"At most {MAX_LINE_ITEMS} lines. On update, replaces all lines.",
    )
    refunds = RefundSerializer(many=True, read_only=True, help_text="Dated refunds; they add up to refunded_amount.")

    class Meta:
        model = Transaction
        fields = [
            "id",
            "client",
            "occurred_at",
            "status",
            "total_amount",
            "refunded_amount",
            "tip_amount",
            "tax_amount",
            "discount_amount",
            "currency",
            "source",
            "external_id",
            "line_items",
            "refunds",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []


class TransactionUpdateSerializer(TransactionSerializer):
    refunded_amount = MinorUnitsField(
        read_only=True, help_text="Changed only by the refund action (POST .../refund/), never by an update."
    )


class TransactionRefundSerializer(StrictSerializer):
    amount = MinorUnitsField(required=False, min_value=1, help_text="Minor units; defaults to all that is left.")
    refunded_at = BoundedDateTimeField(
        required=False, help_text="When the money went back (default: now); not before the sale, not in the future."
    )


# --- insights (responses only) -----------------------------------------------------------


class CountFigureSerializer(serializers.Serializer[Any]):
    current = serializers.IntegerField()
    previous = serializers.IntegerField()
    change_percent = serializers.DecimalField(
        max_digits=None,
        decimal_places=1,
        coerce_to_string=False,
        allow_null=True,
        help_text="(current - previous) / previous in percent; null when previous is 0.",
    )


class RateFigureSerializer(CountFigureSerializer):
    # A rate is a percent with one decimal where a count is an integer (the schema's figures).
    current = serializers.DecimalField(  # type: ignore[assignment]  # see above
        max_digits=None, decimal_places=1, coerce_to_string=False, help_text="Percent."
    )
    previous = serializers.DecimalField(  # type: ignore[assignment]  # see above
        max_digits=None, decimal_places=1, coerce_to_string=False, help_text="Percent."
    )


class DashboardCurrencySerializer(serializers.Serializer[Any]):
    currency = serializers.CharField()
    revenue = CountFigureSerializer(
        help_text="Minor units: gross_sales - refunds (sales on their date, refunds on theirs; tips and taxes in)."
    )
    transactions = CountFigureSerializer(help_text="The period's sales, less those fully refunded by its end.")
    average_ticket = CountFigureSerializer(
        help_text="Minor units, rounded half-up: those transactions' totals net of their refunds, per transaction."
    )
    gross_sales = CountFigureSerializer(help_text="Minor units: total_amount of the period's sales (not failed).")
    refunds = CountFigureSerializer(help_text="Minor units refunded in the period, whatever the sale's date.")
    service_revenue = CountFigureSerializer(
        help_text=(
            "Minor units: revenue less the exact tips and taxes, rounded once (it may differ by a cent from "
            "revenue - tips - taxes as rounded); equals revenue-by-service's total."
        )
    )
    tips = CountFigureSerializer(help_text="Minor units: the period's tips less the refunds' share of them.")
    taxes = CountFigureSerializer(help_text="Minor units: the period's taxes less the refunds' share of them.")
    discounts = CountFigureSerializer(help_text="Minor units taken off the period's transactions (not in revenue).")


class DashboardSerializer(serializers.Serializer[Any]):
    start = serializers.DateField()
    end = serializers.DateField()
    previous_start = serializers.DateField()
    previous_end = serializers.DateField()
    currencies = DashboardCurrencySerializer(many=True, help_text="Money per currency; the tenant's currency first.")
    transactions = CountFigureSerializer(help_text="All currencies (a count, not money).")
    new_clients = CountFigureSerializer(
        help_text="Active clients with no completed visit or purchase before the period (first time on record)."
    )
    active_clients = CountFigureSerializer(
        help_text="Clients with a completed visit or a purchase (not fully refunded) in the period."
    )
    returning_client_rate = RateFigureSerializer(help_text="Active clients also active before the period.")
    rebooking_rate = RateFigureSerializer(
        help_text=f"Completed visits followed by another booking within {REBOOKING_WINDOW_DAYS} days."
    )
    no_show_rate = RateFigureSerializer(help_text="No-shows / (completed + no-shows).")


class ServiceRevenueSerializer(serializers.Serializer[Any]):
    service_id = serializers.UUIDField(allow_null=True)
    service_name = serializers.CharField(help_text='"Other" for lines with no service.')
    transactions = serializers.IntegerField()
    quantity = serializers.DecimalField(max_digits=None, decimal_places=3, coerce_to_string=False)
    revenue = serializers.IntegerField()


class CategoryRevenueSerializer(serializers.Serializer[Any]):
    category_id = serializers.UUIDField(allow_null=True)
    category_name = serializers.CharField(help_text='"Uncategorized" for services with no category.')
    transactions = serializers.IntegerField()
    quantity = serializers.DecimalField(max_digits=None, decimal_places=3, coerce_to_string=False)
    revenue = serializers.IntegerField()
    services = ServiceRevenueSerializer(many=True)


class CurrencyRevenueSerializer(serializers.Serializer[Any]):
    currency = serializers.CharField()
    transactions = serializers.IntegerField()
    quantity = serializers.DecimalField(max_digits=None, decimal_places=3, coerce_to_string=False)
    revenue = serializers.IntegerField(help_text="Service revenue: the dashboard's service_revenue.")
    tips = serializers.IntegerField(help_text="Minor units, apart from service revenue.")
    taxes = serializers.IntegerField(help_text="Minor units, apart from service revenue.")
    discounts = serializers.IntegerField(help_text="Minor units taken off the period's transactions.")
    categories = CategoryRevenueSerializer(many=True)


class RevenueByServiceSerializer(serializers.Serializer[Any]):
    start = serializers.DateField()
    end = serializers.DateField()
    currencies = CurrencyRevenueSerializer(many=True)


class BucketSerializer(serializers.Serializer[Any]):
    start = serializers.DateField(help_text="The bucket's first day (a week's Monday, a month's 1st).")
    revenue = serializers.IntegerField()
    transactions = serializers.IntegerField()


class CurrencySeriesSerializer(serializers.Serializer[Any]):
    currency = serializers.CharField()
    buckets = BucketSerializer(many=True)


class RevenueTimeseriesSerializer(serializers.Serializer[Any]):
    start = serializers.DateField()
    end = serializers.DateField()
    interval = serializers.ChoiceField(choices=list(INTERVALS))
    currencies = CurrencySeriesSerializer(many=True)


class TopClientSerializer(serializers.Serializer[Any]):
    client_id = serializers.UUIDField()
    name = serializers.CharField()
    revenue = serializers.IntegerField()
    transactions = serializers.IntegerField()
    visits = serializers.IntegerField(help_text="Completed appointments in the period.")
    last_visit = serializers.DateField(allow_null=True, help_text="Local date of the last completed visit.")


class CurrencyTopClientsSerializer(serializers.Serializer[Any]):
    currency = serializers.CharField()
    clients = TopClientSerializer(many=True)


class TopClientsSerializer(serializers.Serializer[Any]):
    start = serializers.DateField()
    end = serializers.DateField()
    limit = serializers.IntegerField()
    currencies = CurrencyTopClientsSerializer(many=True)
