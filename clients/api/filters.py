"""Filters of the client list, shared by the list, the export and the birthdays view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request

from clients import selectors
from clients.models import TAG_NAME_MAX_LENGTH, Client, Source
from common.errors import InvalidInput
from common.validation import IntegerFilter, StrictFilterSet


class ClientFilter(StrictFilterSet):
    search = django_filters.CharFilter(
        method="filter_search", max_length=200, help_text="Name, email, or phone in any format."
    )
    tag = django_filters.CharFilter(
        method="filter_tag", max_length=TAG_NAME_MAX_LENGTH, help_text="Tag name (any case)."
    )
    source = django_filters.MultipleChoiceFilter(choices=Source.choices)
    birthday_month = IntegerFilter(method="filter_birthday_month", min_value=1, max_value=12, help_text="1 to 12.")
    has_birthday = django_filters.BooleanFilter(method="filter_has_birthday")
    email_consent = django_filters.BooleanFilter()
    sms_consent = django_filters.BooleanFilter()
    archived = django_filters.BooleanFilter(
        method="filter_archived",
        help_text="true: only clients archived because their provider deleted them; false (the default): only the others.",
    )

    class Meta:
        model = Client
        fields = [
            "search",
            "tag",
            "source",
            "birthday_month",
            "has_birthday",
            "email_consent",
            "sms_consent",
            "archived",
        ]

    def filter_search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return selectors.client_search(queryset, value, tenant=self.request.tenant)

    def filter_tag(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return selectors.client_has_tag(queryset, value, tenant=self.request.tenant) if value.strip() else queryset

    def filter_birthday_month(self, queryset: QuerySet[Any], name: str, value: int) -> QuerySet[Any]:
        # 1 to 12: checked by the form field. Served by the tenant's birthday index (clients.models).
        return queryset.filter(birthday_month=int(value))

    def filter_archived(self, queryset: QuerySet[Any], name: str, value: bool) -> QuerySet[Any]:
        return queryset.filter(archived_at__isnull=not value)

    def filter_has_birthday(self, queryset: QuerySet[Any], name: str, value: bool) -> QuerySet[Any]:
        return queryset.filter(birthday_month__isnull=not value)


class ClientOrderingFilter(OrderingFilter):
    """Client-chosen order, with the id appended so equal names still page stably.

    Strict: an unknown or repeated term, or an empty `ordering`, is a 400 (DRF would ignore
    it and use the default order); the schema lists the terms as an array's enum."""

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> Sequence[str] | None:
        raw = request.query_params.get(self.ordering_param)
        if raw is not None:
            terms = [term.strip() for term in raw.split(",")]
            allowed = self._terms(view)
            if not raw or any(term not in allowed for term in terms) or len(set(terms)) != len(terms):
                raise InvalidInput(
                    self.ordering_param, f"must be a comma-separated list of: {', '.join(sorted(allowed))}."
                )
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not any(field.lstrip("-") == "id" for field in ordering):
            ordering = [*ordering, "-id" if ordering[0].startswith("-") else "id"]
        return ordering

    @staticmethod
    def _terms(view: Any) -> set[str]:
        fields = list(getattr(view, "ordering_fields", []))
        return {*fields, *(f"-{field}" for field in fields)}

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        terms = sorted(self._terms(view))
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "style": "form",
                "explode": False,
                "description": "Comma-separated sort fields; `-` sorts descending. Ties are broken by id.",
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "enum": terms},
                    "minItems": 1,
                    "maxItems": len(terms),
                    "uniqueItems": True,
                },
            }
        ]
