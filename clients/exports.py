"""The streamed CSV export: each chunk in its own short tenant transaction."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator

from django.db.models import Q, QuerySet

from clients import consent
from clients.models import Client
from tenants.context import tenant_context

EXPORT_COLUMNS = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "birthday",
    "tags",
    "notes",
    "source",
    "email_consent",
    "sms_consent",
    "created_at",
    "brandvx_id",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    # Free text opened in a spreadsheet must not run as a formula (CSV injection).
    return "'" + value if value.startswith(_FORMULA_START) else value


def _consent_cell(client: Client, channel: str) -> str:
    # "no" only for a decision (a withdrawal); blank when nobody has asked. Read back by the
    # import, a blank says nothing, so an export re-imports without inventing withdrawals.
    granted = consent.consent_state(client, channel).granted
    return "" if granted is None else ("yes" if granted else "no")


def _export_line(client: Client) -> list[str]:
    return [
        _cell(client.first_name),
        _cell(client.last_name),
        _cell(client.email),
        client.phone,
        client.birthday_text or "",
        _cell("; ".join(sorted((link.tag.name for link in client.client_tags.all()), key=str.lower))),
        _cell(client.notes),
        client.source,
        _consent_cell(client, "email"),
        _consent_cell(client, "sms"),
        client.created_at.isoformat(),
        str(client.id),
    ]


def export_chunks(
    queryset: QuerySet[Client], *, tenant_id: uuid.UUID, role: str, user_id: uuid.UUID | None, chunk_size: int
) -> Iterator[str]:
    """The CSV, chunk by chunk. The body is sent after the view (and its transaction and
    tenant context) has returned, so each chunk enters the tenant context for its own short
    transaction, and pages by (created_at, id) instead of holding a cursor open while a slow
    client downloads. Nothing is yielded while a context is active."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield "\ufeff" + buffer.getvalue()  # the BOM makes Excel read the file as UTF-8
    after = None
    while True:
        page = queryset.order_by("created_at", "id")
        if after is not None:
            page = page.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1]))
        with tenant_context(tenant_id, role=role, user_id=user_id):
            clients = list(page[:chunk_size])
        if not clients:
            return
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_export_line(client) for client in clients)
        yield buffer.getvalue()
        after = (clients[-1].created_at, clients[-1].id)
