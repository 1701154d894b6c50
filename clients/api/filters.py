"""Filters of the client list, shared by the list, the export and the birthdays view."""

from __future__ import annotations

import django_filters
from rest_framework.filters import OrderingFilter

from clients import selectors
from clients.models import Client, Source


class ClientFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", help_text="Name, email, or phone in any format.")
    tag = django_filters.CharFilter(method="filter_tag", help_text="Tag name (any case).")
    source = django_filters.MultipleChoiceFilter(choices=Source.choices)
    birthday_month = django_filters.NumberFilter(method="filter_birthday_month", help_text="1 to 12.")
    has_birthday = django_filters.BooleanFilter(method="filter_has_birthday")
    email_consent = django_filters.BooleanFilter()
    sms_consent = django_filters.BooleanFilter()
    archived = django_filters.BooleanFilter(
        method="filter_archived",
        help_text="true: only clients archived because their provider deleted them; false (the default): only the others.",
    )

    class Meta:
        model = Client
        fields = ["search", "tag", "source", "birthday_month", "has_birthday", "email_consent", "sms_consent", "archived"]

    def filter_search(self, queryset, name, value):
        tenant = getattr(self.request, "tenant", None)
        return selectors.client_search(queryset, value, region=tenant.country if tenant else "US")

    def filter_tag(self, queryset, name, value):
        return selectors.client_has_tag(queryset, value) if value.strip() else queryset

    def filter_birthday_month(self, queryset, name, value):
        from brandvx.errors import InvalidParameter

        if value != int(value) or not 1 <= value <= 12:
            raise InvalidParameter("birthday_month", "must be a month number, 1 to 12.")
        month = int(value)
        # A range on birthday_mmdd: served by the (tenant_id, birthday_mmdd) index.
        return queryset.filter(birthday_mmdd__gte=month * 100 + 1, birthday_mmdd__lte=month * 100 + 31)

    def filter_archived(self, queryset, name, value):
        return queryset.filter(archived_at__isnull=not value)

    def filter_has_birthday(self, queryset, name, value):
        return queryset.filter(birthday_mmdd__isnull=not value)


class ClientOrderingFilter(OrderingFilter):
    """Client-chosen order, with the id appended so equal names still page stably."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not any(field.lstrip("-") == "id" for field in ordering):
            ordering = [*ordering, "-id" if ordering[0].startswith("-") else "id"]
        return ordering
