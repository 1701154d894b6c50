"""Input rules shared by every endpoint, each stated once so the OpenAPI schema and the
server agree: the dates the server can compute with, strict serializers (unknown fields are
refused), and strict query filters (an empty or malformed value is refused, never ignored).
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import django_filters
from django import forms
from django.db import models
from django.db.models import QuerySet
from django.http import QueryDict
from django_filters import rest_framework as rest_framework_filters
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from common.errors import InvalidInput

if TYPE_CHECKING:
    # StrictFieldsMixin's base for the type checker only (self.fields, the super() call); at
    # run time it stays a plain mixin.
    _SerializerBase = serializers.Serializer[Any]
else:
    _SerializerBase = object

# --- dates ---------------------------------------------------------------------------------
# Every date and instant a client sends lies in these years. Far enough for any salon's
# records; far enough from year 1 and 9999 that a local midnight in any time zone, the next
# day, a previous period or a birthday window can always be computed (issue 13).
MIN_YEAR = 1900
MAX_YEAR = 2999
MIN_DATE = datetime.date(MIN_YEAR, 1, 1)
MAX_DATE = datetime.date(MAX_YEAR, 12, 31)
# The same range as a pattern, so schema-driven clients know it: 1900-2999.
_YEAR = r"(19[0-9]{2}|2[0-9]{3})"
_MONTH_DAY = r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
DATE_PATTERN = rf"^{_YEAR}-{_MONTH_DAY}$"
DATETIME_PATTERN = (
    rf"^{_YEAR}-{_MONTH_DAY}T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{{1,6}})?)?"
    r"(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])$"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_SCHEMA = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
DATETIME_SCHEMA = {"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN}
RANGE_TEXT = f"years {MIN_YEAR} to {MAX_YEAR}"


def date_in_range(value: datetime.date) -> bool:
    return MIN_DATE <= value <= MAX_DATE


def instant_in_range(value: datetime.datetime, *, written: datetime.datetime | None = None) -> bool:
    """An instant in the supported years both as written (its own offset) and in UTC, where it
    is stored: 1900-01-01T00:00:00+14:00 is 1899-12-31 in UTC, and refused. A naive value is
    taken as UTC."""
    utc = value.astimezone(datetime.UTC) if value.tzinfo is not None else value
    return date_in_range(utc.date()) and date_in_range((written or value).date())


def parse_query_date(raw: str | None, name: str, *, required: bool = False) -> datetime.date | None:
    """A YYYY-MM-DD query parameter inside the supported years; 400 naming it otherwise."""
    if raw is None or raw == "":
        if required or raw == "":
            raise InvalidInput(name, f"is required as a date, YYYY-MM-DD ({RANGE_TEXT}).")
        return None
    try:
        if not _ISO_DATE.match(raw):
            raise ValueError
        value = datetime.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(name, f"must be a date as YYYY-MM-DD ({RANGE_TEXT}).") from None
    if not date_in_range(value):
        raise InvalidInput(name, f"must be a date in the {RANGE_TEXT}.")
    return value


def parse_query_int(raw: str | None, name: str, *, minimum: int, maximum: int, default: int) -> int:
    """A whole-number query parameter in [minimum, maximum]; 400 naming it otherwise."""
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not minimum <= int(raw) <= maximum:
        raise InvalidInput(name, f"must be a whole number from {minimum} to {maximum}.")
    return int(raw)


@extend_schema_field(DATE_SCHEMA)
class BoundedDateField(serializers.DateField):
    """A date in the supported years (see MIN_YEAR / MAX_YEAR)."""

    def to_internal_value(self, value: datetime.date | str) -> datetime.date:
        day = super().to_internal_value(value)
        if not date_in_range(day):
            raise serializers.ValidationError(f"Must be a date in the {RANGE_TEXT}.")
        return day


@extend_schema_field(DATETIME_SCHEMA)
class BoundedDateTimeField(serializers.DateTimeField):
    """An instant in the supported years, in UTC and in any local time zone."""

    def to_internal_value(self, value: datetime.datetime | str) -> datetime.datetime:
        instant = super().to_internal_value(value)
        # As written (its own offset); any zone's local time of it is then still computable.
        try:
            written = datetime.datetime.fromisoformat(value) if isinstance(value, str) else instant
        except ValueError:
            written = instant
        if not instant_in_range(instant, written=written):
            raise serializers.ValidationError(f"Must be an instant in the {RANGE_TEXT}, in UTC and as written.")
        return instant


# --- strict serializers ----------------------------------------------------------------

FORM_ONLY_KEYS = frozenset({"csrfmiddlewaretoken"})


# Refuses fields the serializer does not accept (unknown or read-only), naming them, instead
# of dropping them silently; nested strict serializers too. (A comment, not a docstring: the
# schema would show it as the description of every serializer without its own.)
class StrictFieldsMixin(_SerializerBase):
    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "keys"):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            # A browser's form (the browsable API) carries its CSRF token with the fields.
            ignored = FORM_ONLY_KEYS if isinstance(data, QueryDict) else ()
            extra = [key for key in data.keys() if key not in writable and key not in ignored]
            if extra:
                raise serializers.ValidationError(
                    {key: ["This field is read-only." if key in self.fields else "Unknown field."] for key in extra}
                )
            if not isinstance(data, QueryDict):
                # JSON has types: a number where the schema says string (or the reverse) is
                # refused, not converted. Form bodies are all text and keep DRF's parsing.
                wrong = {
                    key: [f"Must be {expected}."]
                    for key, expected in (
                        (key, _json_type_error(self.fields[key], value)) for key, value in data.items()
                    )
                    if expected
                }
                if wrong:
                    raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


def _json_type_error(field: serializers.Field[Any, Any, Any, Any], value: object) -> str | None:
    """What `value` should have been for `field`, when its JSON type is wrong; else None."""
    if value is None:
        return None  # the field's own allow_null decides
    checks = (
        (serializers.BooleanField, bool, "true or false"),
        (serializers.IntegerField, int, "an integer"),
        (serializers.CharField, str, "a string"),
        (serializers.ChoiceField, str, "a string"),
        (serializers.UUIDField, str, "a string (a UUID)"),
        (serializers.DateField, str, "a string (a date)"),
        (serializers.DateTimeField, str, "a string (a date-time)"),
        (serializers.DictField, dict, "an object"),
        (serializers.ListField, list, "an array"),
        (serializers.ListSerializer, list, "an array"),
    )
    for field_class, json_type, expected in checks:
        if isinstance(field, field_class):
            if json_type is int and isinstance(value, bool):
                return expected
            if not isinstance(value, json_type):
                return expected
            if isinstance(field, serializers.ListField) and field.child is not None and isinstance(value, list):
                for item in value:
                    problem = _json_type_error(field.child, item)
                    if problem:
                        return f"an array whose items are each {problem}"
            if isinstance(field, serializers.DictField) and field.child is not None and isinstance(value, dict):
                for item in value.values():
                    problem = _json_type_error(field.child, item)
                    if problem:
                        return f"an object whose values are each {problem}"
            return None
    return None


# Bases of every request body serializer. (No docstrings: the schema would show them as
# the description of every serializer without its own.)
class StrictSerializer(StrictFieldsMixin, serializers.Serializer[Any]):
    pass


class StrictModelSerializer(StrictFieldsMixin, serializers.ModelSerializer[Any]):
    pass


# --- strict query filters ----------------------------------------------------------------


class BoundedDateFormField(forms.DateField):
    """YYYY-MM-DD only, inside the supported years."""

    input_formats = ["%Y-%m-%d"]

    def validate(self, value: datetime.date | None) -> None:
        super().validate(value)
        if value is not None and not date_in_range(value):
            raise forms.ValidationError(f"Must be a date in the {RANGE_TEXT}.")


class BoundedDateFilter(django_filters.DateFilter):
    field_class = BoundedDateFormField


class BoundedDateRangeFormField(django_filters.fields.DateRangeField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields = (BoundedDateFormField(required=False), BoundedDateFormField(required=False))

    def compress(self, data_list: list[datetime.date | None]) -> slice | None:
        if data_list:
            after, before = data_list
            # Whole days, like the plain field, without its timezone-aware datetime bounds.
            return slice(after, before)
        return None


class BoundedDateFromToRangeFilter(django_filters.DateFromToRangeFilter):
    """`<name>_after` / `<name>_before`, both inclusive local dates in the supported years."""

    field_class = BoundedDateRangeFormField

    def filter(self, qs: QuerySet[Any], value: slice | None) -> QuerySet[Any]:
        if value:
            if value.start is not None:
                qs = qs.filter(**{f"{self.field_name}__gte": value.start})
            if value.stop is not None:
                qs = qs.filter(**{f"{self.field_name}__lte": value.stop})
        return qs


class StrictFilterSet(rest_framework_filters.FilterSet):
    """A FilterSet whose every parameter is validated, never ignored.

    - A typed parameter (number, boolean, date, id, choice) sent empty is a 400, not "no filter".
    - Foreign keys filter by id: an id that names nothing finds nothing (no 400, no lookup).
    - Dates must lie in the supported years.
    Limits given as filter kwargs (min_value, max_value, max_length) are enforced by the form
    field and shown in the schema (common.schema.StrictFilterExtension).
    """

    FILTER_DEFAULTS = {
        **rest_framework_filters.FilterSet.FILTER_DEFAULTS,
        models.ForeignKey: {"filter_class": django_filters.UUIDFilter},
        models.OneToOneField: {"filter_class": django_filters.UUIDFilter},
        models.UUIDField: {"filter_class": django_filters.UUIDFilter},
        models.DateField: {"filter_class": BoundedDateFilter},
    }

    @classmethod
    def filter_for_field(
        cls, field: models.Field[Any, Any], field_name: str, lookup_expr: str | None = None
    ) -> django_filters.Filter:
        filter_ = super().filter_for_field(field, field_name, lookup_expr)
        if isinstance(filter_, django_filters.CharFilter) and getattr(field, "max_length", None):
            filter_.extra.setdefault("max_length", field.max_length)
        return filter_

    def get_form_class(self) -> type[forms.Form]:
        """django-filter builds the form class, and every form field of it, again for every
        request; here once per FilterSet class. Sharing is safe: a form deep-copies its fields
        per instance, and no field depends on the request (a filter whose choices do, e.g. a
        ModelChoiceFilter with a callable queryset, keeps django-filter's per-request form)."""
        cls = type(self)
        cached: type[forms.Form] | None = cls.__dict__.get("_shared_form_class")
        if cached is not None:
            return cached
        for name, filter_ in self.filters.items():
            # django-filter labels a filter that is no model field (a `method` filter)
            # "[invalid name]": the browsable API's Filters pop-up shows its name instead.
            if "[invalid name]" in str(filter_.label):
                filter_.label = name.replace("_", " ").capitalize()
        form_class: type[forms.Form] = super().get_form_class()
        if not any(isinstance(f, django_filters.filters.QuerySetRequestMixin) for f in self.filters.values()):
            cls._shared_form_class = form_class
        return form_class

    def is_valid(self) -> bool:
        valid: bool = super().is_valid()
        for name, filter_ in self.filters.items():
            if isinstance(filter_, django_filters.CharFilter):
                continue  # an empty text filter is a valid (empty) string
            names = (
                [name] if name in self.data else [f"{name}_{suffix}" for suffix in ("after", "before", "min", "max")]
            )
            for key in names:
                values = [value for value in self.data.getlist(key)] if key in self.data else []
                if any(value == "" for value in values):
                    self.form.add_error(name if name in self.form.fields else None, f"{key}: must not be empty.")
                    valid = False
                elif isinstance(filter_, django_filters.BooleanFilter) and any(
                    v not in ("true", "false") for v in values
                ):
                    # DRF's widget reads anything else ("null", "10.0") as "no filter".
                    self.form.add_error(name if name in self.form.fields else None, f"{key}: must be true or false.")
                    valid = False
        return valid


__all__ = [
    "MIN_DATE",
    "MAX_DATE",
    "DATE_SCHEMA",
    "DATETIME_SCHEMA",
    "BoundedDateField",
    "BoundedDateTimeField",
    "instant_in_range",
    "StrictSerializer",
    "StrictModelSerializer",
    "StrictFieldsMixin",
    "StrictFilterSet",
    "BoundedDateFilter",
    "BoundedDateFromToRangeFilter",
    "parse_query_date",
    "parse_query_int",
]


@extend_schema_field({"type": "integer"})
class IntegerFilter(django_filters.NumberFilter):
    """A whole-number filter (django-filter's NumberFilter takes decimals)."""

    field_class = forms.IntegerField


# The parameters a filter named `name` reads: its name, or a range's two ends.
_RANGE_SUFFIXES = ("after", "before", "min", "max")


def _named_filters(filterset_class: type[rest_framework_filters.FilterSet], query_params: QueryDict) -> frozenset[str]:
    """The filters of `filterset_class` that some parameter of the request names."""
    names: set[str] = set()
    for key in query_params:
        if key in filterset_class.base_filters:
            names.add(key)
        elif key.endswith(_RANGE_SUFFIXES) and key.rsplit("_", 1)[0] in filterset_class.base_filters:
            names.add(key.rsplit("_", 1)[0])
    return frozenset(names)


@functools.lru_cache(maxsize=1024)
def _narrowed(
    filterset_class: type[rest_framework_filters.FilterSet], names: frozenset[str]
) -> type[rest_framework_filters.FilterSet]:
    """`filterset_class` with only the filters `names`: what a request naming those filters
    needs. A filter no parameter names filters nothing (its value is empty), so the rows are
    the same; but django-filter deep-copies every filter and every form field for each
    request, and a list's search named one filter of eight. Made once per class and set of
    names (its form class is then shared too, StrictFilterSet.get_form_class)."""
    if names == frozenset(filterset_class.base_filters):
        return filterset_class
    # Made by the class's own metaclass (django-filter's FilterSetMetaclass), as a class statement would.
    metaclass: Callable[..., type[rest_framework_filters.FilterSet]] = type(filterset_class)
    narrowed = metaclass(filterset_class.__name__, (filterset_class,), {"__module__": filterset_class.__module__})
    narrowed.base_filters = {name: f for name, f in filterset_class.base_filters.items() if name in names}
    return narrowed


class StrictFilterBackend(rest_framework_filters.DjangoFilterBackend):
    """DEFAULT_FILTER_BACKENDS: views that only list `filterset_fields` get a StrictFilterSet
    too, and a bad filter is answered like every bad parameter: `invalid_parameter` naming it
    (with every bad filter's messages in `fields`)."""

    filterset_base = StrictFilterSet

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: APIView) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        names = _named_filters(filterset_class, request.query_params) if filterset_class is not None else None
        if not names:
            # No parameter any filter reads: nothing to filter or validate, so no FilterSet is
            # built (django-filter deep-copies every filter into a new form per request).
            return queryset
        if filterset_class is getattr(view, "filterset_class", None):
            # Only the named filters. (Not for a `filterset_fields` view: django-filter makes
            # its class anew on each call, so there is nothing to reuse; it is used as made,
            # not looked up again.)
            filterset_class = _narrowed(filterset_class, names)
        filterset = filterset_class(**self.get_filterset_kwargs(request, queryset, view))
        if not filterset.is_valid():
            errors = {name: [str(message) for message in messages] for name, messages in filterset.errors.items()}
            name = next(iter(errors))
            raise InvalidInput(name, " ".join(errors[name]), fields=errors)
        filtered: QuerySet[Any] = filterset.qs
        return filtered
