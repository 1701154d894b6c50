"""Filters for the catalog, appointment and transaction lists.

`start` / `end` are the tenant's local dates, like the insights: [start 00:00 local,
end + 1 day 00:00 local), compared with the stored instants (an index range).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, QuerySet

from analytics.models import Appointment, Service, Transaction, TransactionLineItem
from common.validation import BoundedDateFilter, StrictFilterSet


class LocalDateRangeFilterSet(StrictFilterSet):
    """`start` and `end` filter `time_field` by the request tenant's local dates."""

    time_field = ""

    start = BoundedDateFilter(method="filter_start", help_text="Local date (YYYY-MM-DD), inclusive.")
    end = BoundedDateFilter(method="filter_end", help_text="Local date (YYYY-MM-DD), inclusive.")

    def _midnight(self, day: datetime.date) -> datetime.datetime:
        return datetime.datetime.combine(day, datetime.time.min, tzinfo=self.request.tenant.tzinfo)

    def filter_start(self, queryset: QuerySet[Any], name: str, value: datetime.date) -> QuerySet[Any]:
        return queryset.filter(**{f"{self.time_field}__gte": self._midnight(value)})

    def filter_end(self, queryset: QuerySet[Any], name: str, value: datetime.date) -> QuerySet[Any]:
        return queryset.filter(**{f"{self.time_field}__lt": self._midnight(value + datetime.timedelta(days=1))})


class ServiceFilterSet(StrictFilterSet):
    class Meta:
        model = Service
        fields = ["category", "is_active", "currency", "source"]


class AppointmentFilterSet(LocalDateRangeFilterSet):
    time_field = "start_at"

    class Meta:
        model = Appointment
        fields = ["client", "service", "status", "staff_name", "source"]


class TransactionFilterSet(LocalDateRangeFilterSet):
    time_field = "occurred_at"
    service = django_filters.UUIDFilter(method="filter_service", help_text="Sales with a line of this service.")

    class Meta:
        model = Transaction
        fields = ["client", "status", "currency", "source"]

    def filter_service(self, queryset: QuerySet[Any], name: str, value: uuid.UUID) -> QuerySet[Any]:
        # EXISTS, not a join: a sale with two lines of the service must appear once.
        lines = TransactionLineItem.objects.filter(transaction_id=OuterRef("pk"), service_id=value)
        return queryset.filter(Exists(lines))
