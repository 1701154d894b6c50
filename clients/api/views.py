"""Client endpoints: parse, call a service or selector, respond. The tenant, the role checks
and the tenant filter come from the base classes (tenants.views)."""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Mapping
from typing import Any, cast

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import renderers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from clients import erasure, selectors, services
from clients.api import pagination
from clients.api import serializers as s
from clients.api.filters import ClientFilter, ClientOrderingFilter
from clients.conf import limit
from clients.csv_format import COLUMN_ALIASES, CsvRejected
from clients.exports import export_chunks
from clients.models import TAG_NAME_MAX_LENGTH, Client, Tag
from clients.rules import BIRTHDAYS_DEFAULT_DAYS_AHEAD, BIRTHDAYS_MAX_DAYS_AHEAD, ImportOutcome
from common.errors import ConfirmationMismatch, InvalidInput
from common.parsers import StrictFormParser, StrictMultiPartParser
from common.validation import DATE_SCHEMA, RANGE_TEXT, StrictFilterBackend, parse_query_date, parse_query_int
from tenants.models import Tenant, User
from tenants.views import OWNER_ONLY, TenantModelViewSet, TenantReadOnlyViewSet


class CSVRenderer(renderers.BaseRenderer):
    """Lets `Accept: text/csv` reach the export; errors on that path are still JSON text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        return json.dumps(data, default=str).encode()


IMPORT_DESCRIPTION = (
    "Upload a CSV of clients (multipart field `file`; UTF-8, a byte order mark is fine; comma, "
    "semicolon or tab separated). It is checked at once (400 with `reason`: not_utf8, no_header, "
    "no_known_column, no_rows, too_large, too_many_rows, malformed) and then imported by a background "
    "job: poll `/api/v1/jobs/{job_id}/` for progress, counts ("
    + ", ".join(ImportOutcome.values)
    + ") and per-row errors (`row` counts the header as row 1). A row matches an existing client "
    "by external id, then email, then phone; blank cells leave a client's values alone, tags are "
    "added, notes appended once. Header names are matched ignoring case, spaces, `_` and `-`:\n\n"
    + "\n".join(
        f"- `{column}`: " + ", ".join(f"`{alias}`" for alias in aliases) for column, aliases in COLUMN_ALIASES.items()
    )
    + "\n\nTags are separated by `;` or `,`; consents are yes/no, true/false or 1/0; birthdays are "
    "YYYY-MM-DD, MM-DD, or M/D/YYYY (D/M/YYYY outside the US)."
)


def _days_ahead(request: Request) -> int:
    return parse_query_int(
        request.query_params.get("days_ahead"),
        "days_ahead",
        minimum=0,
        maximum=BIRTHDAYS_MAX_DAYS_AHEAD,
        default=BIRTHDAYS_DEFAULT_DAYS_AHEAD,
    )


def _from_date(request: Request, tenant: Tenant) -> datetime.date:
    return parse_query_date(request.query_params.get("from"), "from") or tenant.today()


@extend_schema_view(
    create=extend_schema(request=s.ClientWriteSerializer, responses={201: s.ClientSerializer}),
    update=extend_schema(request=s.ClientWriteSerializer, responses=s.ClientSerializer),
    partial_update=extend_schema(request=s.ClientWriteSerializer, responses=s.ClientSerializer),
)
class ClientViewSet(TenantModelViewSet[Client]):
    """The salon's clients. Viewers read; staff and owners write."""

    queryset = Client.objects.all()  # the model, for the router and schema; rows: get_base_queryset
    serializer_class = s.ClientSerializer
    filterset_class = ClientFilter
    filter_backends = [StrictFilterBackend, ClientOrderingFilter]
    ordering_fields = ["created_at", "updated_at", "last_name", "first_name"]
    ordering = ["-created_at", "-id"]
    error_statuses = {"import_csv": {503}, "merge": {404}}
    action_roles = {"erase": OWNER_ONLY, "data_export": OWNER_ONLY}

    def get_base_queryset(self) -> QuerySet[Any]:
        # Archived clients (deleted at their provider) leave the lists; their record stays.
        hide_archived = self.action in ("list", "export") and "archived" not in self.request.query_params
        if self.action in ("list", "birthdays"):
            # Rows (client_json): nothing to prefetch. The birthdays leave out archived clients
            # themselves (selectors.birthdays_window_page).
            return selectors.tenant_client_rows(tenant=self.tenant, include_archived=not hide_archived)
        queryset = selectors.client_list(tenant=self.tenant)
        return queryset.filter(archived_at__isnull=True) if hide_archived else queryset

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action in ("create", "update", "partial_update"):
            return s.ClientWriteSerializer
        if self.action == "import_csv":
            return s.ImportRequestSerializer  # the browsable API's upload form: a file field
        return s.ClientSerializer

    @property
    def acting_user(self) -> User:
        return self.membership.user

    def _read(self, client_id: uuid.UUID) -> Client:
        return self.get_queryset().get(id=client_id)

    # The (filtered, ordered) clients, a page at a time, read as rows (ClientSerializer's JSON,
    # built by client_json). A comment, not a docstring: the schema would take a docstring as
    # the operation's description.
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rows: QuerySet[Any] = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(rows)
        if page is None:  # no pagination class
            return Response([s.client_json(row) for row in rows])
        return self.get_paginated_response([s.client_json(row) for row in page])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self._write_data(request, partial=False)
        client = services.client_create(tenant=self.tenant, data=data, acting_user=self.acting_user)
        return Response(s.ClientSerializer(self._read(client.id)).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = self.get_object()
        data = self._write_data(request, partial=kwargs.get("partial", False))
        services.client_update(tenant=self.tenant, client_id=client.id, data=data, acting_user=self.acting_user)
        return Response(s.ClientSerializer(self._read(client.id)).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = self.get_object()
        services.client_delete(tenant=self.tenant, client_id=client.id, acting_user=self.acting_user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _write_data(self, request: Request, *, partial: bool) -> dict[str, Any]:
        serializer = s.ClientWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    # --- tags ---

    @extend_schema(
        summary="Add a tag to a client",
        request=s.TagNameSerializer,
        responses={201: s.ClientTagResultSerializer, 200: s.ClientTagResultSerializer},
    )
    @action(detail=True, methods=["post"], url_path="tags")
    def tags(self, request: Request, pk: str | None = None) -> Response:
        client = self.get_object()
        body = s.TagNameSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        link, created = services.client_tag_add(
            tenant=self.tenant, client_id=client.id, name=body.validated_data["name"], acting_user=self.acting_user
        )
        data = {"name": link.tag.name, "created": created, "client": self._read(client.id)}
        return Response(
            s.ClientTagResultSerializer(data).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        summary="Remove a tag from a client",
        request=None,
        responses={204: None},
        parameters=[
            OpenApiParameter(
                "name",
                {"type": "string", "pattern": "^[^/]+$", "maxLength": TAG_NAME_MAX_LENGTH},
                OpenApiParameter.PATH,
                description="Tag name (any case).",
            )
        ],
    )
    @action(detail=True, methods=["delete"], url_path=r"tags/(?P<name>[^/]+)")
    def tag_remove(self, request: Request, pk: str | None = None, name: str = "") -> Response:
        if len(name) > TAG_NAME_MAX_LENGTH:
            raise InvalidInput("name", f"is longer than a tag name can be ({TAG_NAME_MAX_LENGTH}).")
        client = self.get_object()
        services.client_tag_remove(tenant=self.tenant, client_id=client.id, name=name, acting_user=self.acting_user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- birthdays, duplicates, merge ---

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "days_ahead",
                {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": BIRTHDAYS_MAX_DAYS_AHEAD,
                    "default": BIRTHDAYS_DEFAULT_DAYS_AHEAD,
                },
                description=f"Days after `from` to include, 0 to {BIRTHDAYS_MAX_DAYS_AHEAD}.",
            ),
            OpenApiParameter(
                "from", DATE_SCHEMA, description=f"Default: today in the tenant's time zone ({RANGE_TEXT})."
            ),
            OpenApiParameter(
                pagination.CURSOR,
                {"type": "string", "maxLength": pagination.CURSOR_MAX_LENGTH},
                description="Opaque: the `next` or `previous` link of a page of this window.",
            ),
            OpenApiParameter(
                "page_size", pagination.PAGE_SIZE_SCHEMA, description="Number of birthdays to return per page."
            ),
        ],
        responses=s.BirthdaysSerializer,
        filters=True,
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def birthdays(self, request: Request) -> Response:
        """Clients whose next birthday falls in [from, from + days_ahead], by date. On one
        day, by last name, first name (character by character) and id. Feb 29 birthdays fall
        on Feb 28 in common years. The list filters apply too. A page at a time (`page_size`,
        50 by default): follow `next` and `previous`; `count` is the whole window's."""
        days_ahead, start = _days_ahead(request), _from_date(request, self.tenant)
        size, cursor = pagination.page_size(request), pagination.BirthdayCursor.of_request(request)
        clients = self.filter_queryset(self.get_queryset())
        try:
            page = selectors.birthdays_window_page(
                tenant=self.tenant,
                start=start,
                days_ahead=days_ahead,
                size=size,
                position=cursor.position if cursor else None,
                backwards=cursor.backwards if cursor else False,
                clients=clients,
            )
        except ValueError:  # the cursor's day is not one of this window's
            raise InvalidInput(pagination.CURSOR, pagination.NOT_A_CURSOR) from None
        # BirthdaysSerializer's shape, built from rows (see client_json).
        data = {
            "start": start,
            "end": start + datetime.timedelta(days=days_ahead),
            "days_ahead": days_ahead,
            "count": selectors.birthdays_upcoming_count(
                tenant=self.tenant, start=start, days_ahead=days_ahead, clients=clients
            ),
            **pagination.page_links(request, start=start, cursor=cursor, birthdays=page.birthdays, more=page.more),
            "results": [
                {
                    "client": s.client_json(item.client),
                    "date": item.date,
                    "days_until": item.days_until,
                    "turning": item.turning,
                }
                for item in page.birthdays
            ],
        }
        return Response(data)

    @extend_schema(responses=s.DuplicatesSerializer, filters=False)
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def duplicates(self, request: Request) -> Response:
        """Groups of clients sharing an email or a phone: candidates to merge."""
        groups = selectors.client_duplicates(tenant=self.tenant)
        return Response(s.DuplicatesSerializer({"count": len(groups), "groups": groups}).data)

    @extend_schema(request=s.MergeRequestSerializer, responses=s.MergeResultSerializer, filters=False)
    @action(detail=False, methods=["post"], filter_backends=[])
    def merge(self, request: Request) -> Response:
        """Merge `source` into `target` (both of this tenant): tags, external ids, appointments,
        transactions and drafts move to the target; the target keeps its values and fills
        its blanks from the source; notes are kept from both; the later consent decision
        stands. The source is deleted."""
        body = s.MergeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        source, target = body.validated_data["source"], body.validated_data["target"]
        # Both ids are looked up in this tenant by the service: one of another tenant is
        # simply not found (404, as a path id: the merge names both clients it acts on).
        result = services.client_merge(
            tenant=self.tenant, source_id=source, target_id=target, acting_user=self.acting_user
        )
        data = {"client": self._read(result.client.id), "moved": result.moved, "conflicts": result.conflicts}
        return Response(s.MergeResultSerializer(data).data)

    # --- CSV ---

    @extend_schema(
        methods=["GET"],
        summary="How to import clients: the CSV columns and limits",
        responses=s.ImportFormatSerializer,
        filters=False,
        description=IMPORT_DESCRIPTION,
    )
    @extend_schema(
        methods=["POST"],
        summary="Import clients from a CSV file",
        request={"multipart/form-data": s.ImportRequestSerializer},
        responses={
            202: s.ImportAcceptedSerializer,
            400: OpenApiResponse(description="The file is refused; `reason` says why."),
        },
        filters=False,
        description=IMPORT_DESCRIPTION,
    )
    @action(
        detail=False,
        methods=["get", "post"],
        url_path="import",
        url_name="import",
        name="Import clients (CSV)",
        parser_classes=[StrictMultiPartParser, StrictFormParser],
        filter_backends=[],
    )
    def import_csv(self, request: Request) -> Response:
        # GET: the columns and limits (and, in the browsable API, the upload form with its
        # file field); POST: the upload. The page's text is IMPORT_DESCRIPTION (set below).
        if request.method == "GET":
            return Response(
                s.ImportFormatSerializer(
                    {
                        "columns": [
                            {"column": column, "headers": list(aliases)} for column, aliases in COLUMN_ALIASES.items()
                        ],
                        "max_bytes": limit("CLIENTS_IMPORT_MAX_BYTES"),
                        "max_rows": limit("CLIENTS_IMPORT_MAX_ROWS"),
                    }
                ).data
            )
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("file", "attach the CSV as the multipart field 'file'.")
        if upload.size > limit("CLIENTS_IMPORT_MAX_BYTES"):
            # Refused before reading it into memory.
            raise CsvRejected(
                "too_large", f"The file is {upload.size} bytes; the limit is {limit('CLIENTS_IMPORT_MAX_BYTES')} bytes."
            )
        job = services.client_import_csv_start(
            tenant=self.tenant, data=upload.read(), filename=upload.name or "", acting_user=self.acting_user
        )
        return Response(
            {"job_id": str(job.id), "status": job.status, "rows": job.progress_total}, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR}, filters=True)
    @action(
        detail=False, methods=["get"], renderer_classes=[renderers.JSONRenderer, CSVRenderer], pagination_class=None
    )
    def export(self, request: Request) -> StreamingHttpResponse:
        """The (filtered) client list as CSV, streamed. Columns match the import's, so an
        export can be edited and imported again."""
        queryset = self.filter_queryset(self.get_queryset())
        chunks = export_chunks(
            queryset,
            tenant_id=self.tenant.id,
            role=self.membership.role,
            user_id=self.acting_user.id,
            chunk_size=limit("CLIENTS_EXPORT_CHUNK_ROWS"),
        )
        response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
        filename = f"clients-{self.tenant.today().isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    # --- data rights ---

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, filters=False, operation_id="v1_clients_data_export")
    @action(detail=True, methods=["get"], url_path="export", url_name="data-export", filter_backends=[])
    def data_export(self, request: Request, pk: str | None = None) -> Response:
        """Everything held about this client, as one JSON document (owner_admin): the profile,
        tags, consent decisions, appointments, sales with their line items and refunds,
        message drafts, external ids and the change records about the client. The export is
        recorded in the change log (`client.exported`)."""
        client = self.get_object()
        document = erasure.client_data_export(tenant=self.tenant, client_id=client.id, acting_user=self.acting_user)
        response = Response(document)
        response["Content-Disposition"] = f'attachment; filename="client-{client.id}.json"'
        return response

    @extend_schema(request=s.EraseRequestSerializer, responses=s.ErasureResultSerializer, filters=False)
    @action(detail=True, methods=["post"], filter_backends=[])
    def erase(self, request: Request, pk: str | None = None) -> Response:
        """Erase this client for good (owner_admin), in one transaction: the client, its tags,
        external ids and message drafts are deleted; appointments and sales stay without a
        client; every free text of the tenant that names the person (job parameters and
        errors, stored webhook events, ...) is rewritten to `[erased]`; a keyed hash of the
        e-mail and phone goes on the suppression list, so no import (CSV or provider) grants
        them consent again. `confirm` must repeat the client's id (400
        `confirmation_mismatch` otherwise). Recorded in the change log as `client.erased`,
        with no personal data."""
        client = self.get_object()
        body = s.EraseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data["confirm"].strip().lower() != str(client.id):
            raise ConfirmationMismatch()
        result = erasure.client_erase(tenant=self.tenant, client_id=client.id, acting_user=self.acting_user)
        return Response(s.ErasureResultSerializer(result).data)


class TagViewSet(TenantReadOnlyViewSet[Tag]):
    """The tenant's tags, each with its number of clients."""

    queryset = Tag.objects.all()  # the model, for the router and schema; rows: get_base_queryset
    serializer_class = s.TagSerializer
    cursor_ordering = ("name", "id")

    def get_base_queryset(self) -> QuerySet[Tag]:
        return selectors.tag_counts(tenant=self.tenant)

    # The tags, a page at a time, read as rows (TagSerializer's JSON, built by tag_json). A
    # comment, not a docstring: the schema would take a docstring as the operation's description.
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rows = self.filter_queryset(self.get_queryset()).values(*s.TAG_ROW_FIELDS)
        page = self.paginate_queryset(rows)
        if page is None:  # no pagination class
            return Response([s.tag_json(row) for row in rows])
        return self.get_paginated_response([s.tag_json(row) for row in page])


# The browsable API shows an action's description, which DRF's @action always takes from the
# docstring (it overwrites a `description` given to it): the import page describes its columns.
cast(dict[str, Any], ClientViewSet.import_csv.kwargs)["description"] = IMPORT_DESCRIPTION
