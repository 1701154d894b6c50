import re
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.urls import NoReverseMatch, reverse
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import InvalidInput

MAX_CURSOR_LENGTH = 1000
# Each row of a page links to its detail (issue 23): added to every paginated list's items, in
# the schema as in the answer. (Detail answers do not carry it: the detail is where it leads.)
ROW_LINK_SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "format": "uri", "readOnly": True, "description": "This row's detail endpoint."}
    },
    "required": ["url"],
}
_ID_MARKER = "00000000-0000-0000-0000-000000000000"


class DefaultCursorPagination(CursorPagination):
    """Stable cursor pagination; `page_size` is capped so nobody can ask for a million rows.

    Views choose their order with `cursor_ordering` (unique last key keeps pages stable);
    a view with an OrderingFilter lets the client choose instead.

    Strict, like every parameter: a `page_size` that is not a whole number from 1 to
    `max_page_size` is a 400 (DRF would silently use the default), and so is a cursor that
    is not one this server handed out (DRF answers 404, or 500 when its position does not
    fit the ordering column).
    """

    page_size: int = 50
    page_size_query_param: str = "page_size"
    max_page_size: int = 500
    ordering = ("-created_at", "-id")
    view: APIView | None  # set by paginate_queryset

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: APIView) -> tuple[str, ...]:
        has_ordering_filter = any(hasattr(backend, "get_ordering") for backend in getattr(view, "filter_backends", []))
        ordering: str | Sequence[str] | None = getattr(view, "cursor_ordering", None)
        if not has_ordering_filter and ordering:
            return (ordering,) if isinstance(ordering, str) else tuple(ordering)
        return super().get_ordering(request, queryset, view)

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= self.max_page_size:
            raise InvalidInput(self.page_size_query_param, f"must be a whole number from 1 to {self.max_page_size}.")
        return int(raw)

    def decode_cursor(self, request: Request) -> Cursor | None:
        if len(request.query_params.get(self.cursor_query_param) or "") > MAX_CURSOR_LENGTH:
            raise InvalidInput(self.cursor_query_param, "is not a cursor from this list; use `next` or `previous`.")
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise InvalidInput(
                self.cursor_query_param, "is not a cursor from this list; use `next` or `previous`."
            ) from None
        if cursor is not None and cursor.position is not None and "\x00" in str(cursor.position):
            raise InvalidInput(self.cursor_query_param, "is not a cursor from this list; use `next` or `previous`.")
        return cursor

    def get_paginated_response(self, data: Any) -> Response:
        """The page, each row with its `url`: one string join per row, from a prefix made once
        per request (the rows are dicts, built from rows or by a serializer)."""
        prefix = self._detail_prefix()
        if prefix is not None:
            for item in data:
                item["url"] = f"{prefix}{item['id']}/"
        return super().get_paginated_response(data)

    def _detail_prefix(self) -> str | None:
        basename = getattr(getattr(self, "view", None), "basename", None)
        if not basename:
            return None
        try:
            path = reverse(f"{basename}-detail", kwargs={"pk": _ID_MARKER})
        except NoReverseMatch:
            return None
        head, _, tail = path.partition(_ID_MARKER)
        if tail != "/":
            return None
        request = getattr(self, "request", None)  # set by paginate_queryset
        return request.build_absolute_uri(head) if request is not None else head

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("items"):
            schema = {**schema, "items": {"allOf": [schema["items"], ROW_LINK_SCHEMA]}}
        return super().get_paginated_response_schema(schema)

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        self.view = view
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            # A well-formed cursor whose position does not fit the ordering column (a
            # forged or stale cursor): the ORM refuses the value before any query runs.
            raise InvalidInput(
                self.cursor_query_param, "is not a cursor from this list; use `next` or `previous`."
            ) from None

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
            elif parameter["name"] == self.cursor_query_param:
                parameter["description"] = "Opaque: the `next` or `previous` link of a page of this list."
                parameter["schema"] = {"type": "string", "maxLength": MAX_CURSOR_LENGTH}
        return parameters
