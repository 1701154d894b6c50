"""Inbound webhooks and pushes: the entry points that arrive from outside any tenant.

A provider's request carries no tenant: its URL's token (or the custom CRM's API key) is
routed to one connection (`integrations.routing`), and each function here enters that
tenant's context itself, as a Celery task does, with the `tenant_id` the route named. They
are not services (which take `*, tenant` inside a tenant's context): they are the doors a
provider knocks on, and they hand the work to the services and tasks.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import logging
import re
import uuid
from typing import Any
from urllib.parse import parse_qs

from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.utils import timezone

from common.errors import InvalidInput, NotFound
from integrations import tasks
from integrations.importers.base import ClientImporter, import_page
from integrations.importers.custom_crm import CustomTransactionImporter, contact_from_custom
from integrations.models import IntegrationConnection, WebhookEvent
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger("brandvx.integrations")
Status = IntegrationConnection.Status
CUSTOM_IMPORT_MAX_RECORDS = 1000


class ConnectionDisabled(NotFound):
    code = "not_found"
    default_detail = "The custom CRM connection is disabled."


ACUITY_REPLAY_WINDOW = datetime.timedelta(minutes=10)
ACUITY_ID = re.compile(r"[0-9]{1,20}")  # [0-9], not \d or isdigit(): ASCII digits only
# Acuity's actions: scheduled, rescheduled, canceled, changed, order.completed; lower-case
# ASCII words only (no NUL, nothing PostgreSQL refuses), stored on the WebhookEvent.
ACUITY_ACTION = re.compile(r"[a-z][a-z_.]{0,59}")


def acuity_webhook_event_record(*, tenant_id: uuid.UUID, action: str, appointment_id: str) -> WebhookEvent | None:
    """Record an Acuity notification in the current tenant context, or None for a duplicate.
    A transaction-scoped advisory lock per (tenant, action, appointment) makes two concurrent
    deliveries of the same notification record one event."""
    lock_key = f"acuity-webhook:{tenant_id}:{action}:{appointment_id}"
    with transaction.atomic():
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [lock_key])
        same = WebhookEvent.objects.filter(provider="acuity", event_type=action, object_id=appointment_id)
        cutoff = timezone.now() - ACUITY_REPLAY_WINDOW
        if same.filter(received_at__gte=cutoff).exists():
            logger.info("acuity webhook %s %s is a duplicate (tenant %s)", action, appointment_id, tenant_id)
            return None
        return WebhookEvent.objects.create(
            tenant_id=tenant_id,
            provider="acuity",
            event_id=f"{action}:{appointment_id}:{uuid.uuid4().hex}"[:255],
            event_type=action,
            object_type="appointment",
            object_id=appointment_id,
        )


def signature_valid(*, key: str, message: bytes, signature: str) -> bool:
    if not key or not signature:
        return False
    expected = base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def _acuity_fields(raw: bytes) -> dict[str, list[str]]:
    """The signed form body's fields, strictly: UTF-8, no NUL or lone surrogate (400)."""
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput("body", "is not UTF-8 form data") from None
    for key, values in fields.items():
        for text in (key, *values):
            if "\x00" in text or any("\ud800" <= char <= "\udfff" for char in text):
                raise InvalidInput(key if text is not key else "body", "contains a NUL or invalid character")
    return fields


def acuity_webhook_receive(*, tenant_id: uuid.UUID, connection_id: uuid.UUID, body: bytes, signature: str) -> str:
    """Take an Acuity notification for the connection its URL's token routed to: check its
    X-Acuity-Signature with that account's API key, record it and queue its processing
    (after commit). "accepted", "duplicate" (the same notification within the replay
    window), "ignored" (the connection is not active) or "invalid_signature" (nothing
    recorded). Raises InvalidInput for a signed body that is no Acuity notification."""
    with tenant_context(tenant_id, role="system"):
        connection = IntegrationConnection.objects.filter(id=connection_id).first()
        api_key = str((connection.credentials if connection else {}).get("api_key") or "")
        if connection is None or not signature_valid(key=api_key, message=body, signature=signature):
            return "invalid_signature"
        fields = _acuity_fields(body)
        appointment_id = (fields.get("id") or [""])[0]
        action = (fields.get("action") or [""])[0]
        if not ACUITY_ACTION.fullmatch(action):
            raise InvalidInput("action", "must be an Acuity action (e.g. scheduled)")
        # ASCII digits only: str.isdigit() also accepts '١٢٣' and '²', which are no Acuity id.
        if not ACUITY_ID.fullmatch(appointment_id):
            raise InvalidInput("id", "must be an Acuity appointment id")
        if connection.status != Status.ACTIVE:
            return "ignored"
        event = acuity_webhook_event_record(tenant_id=tenant_id, action=action[:60], appointment_id=appointment_id)
        if event is None:
            return "duplicate"
        args = (str(tenant_id), str(connection_id), appointment_id, str(event.id))
        transaction.on_commit(lambda: tasks.process_acuity_appointment.delay(*args))
    return "accepted"


def square_webhook_event_record(
    *, tenant_id: uuid.UUID, connection_id: uuid.UUID, body: dict[str, Any], event_id: str
) -> str:
    """Record a Square notification for one routed tenant and queue its processing (after
    commit): "accepted", "duplicate" (Square's event id was seen: a retry or a replay) or
    "ignored" (the connection is not active)."""
    data = body["data"] if isinstance(body.get("data"), dict) else {}
    with tenant_context(tenant_id, role="system"):
        if not IntegrationConnection.objects.filter(id=connection_id, status="active").exists():
            logger.info("square webhook for an inactive connection ignored (event %s)", event_id)
            return "ignored"
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    tenant_id=tenant_id,
                    provider="square",
                    event_id=event_id[:255],
                    event_type=str(body.get("type") or "")[:100],
                    object_type=str(data.get("type") or "")[:50],
                    object_id=str(data.get("id") or "")[:255],
                )
        except IntegrityError:
            return "duplicate"
        tenant, event_pk = str(tenant_id), str(event.id)
        transaction.on_commit(lambda: tasks.process_square_event.delay(tenant, event_pk))
    return "accepted"


def custom_crm_import(*, tenant_id: uuid.UUID, connection_id: uuid.UUID, payload: object) -> dict[str, Any]:
    """Import what a custom CRM pushed: contacts, then transactions (which may refer to the
    contacts by `client_external_id`). Runs in the routed tenant's context; one savepoint
    per record, so bad records are reported and good ones kept."""
    if not isinstance(payload, dict):
        raise InvalidInput("body", "must be a JSON object with `contacts` and/or `transactions`")
    contacts = payload.get("contacts", [])
    transactions = payload.get("transactions", [])
    for name, value in (("contacts", contacts), ("transactions", transactions)):
        if not isinstance(value, list):
            raise InvalidInput(name, "must be a list")
    if len(contacts) + len(transactions) > CUSTOM_IMPORT_MAX_RECORDS:
        raise InvalidInput("body", f"at most {CUSTOM_IMPORT_MAX_RECORDS} records per request")
    with tenant_context(tenant_id, role="system"):
        connection = IntegrationConnection.objects.filter(id=connection_id).first()
        if connection is None or connection.status == Status.DISABLED:
            raise ConnectionDisabled()
        tenant = Tenant.objects.get(id=tenant_id)
        client_importer = ClientImporter(
            tenant=tenant,
            provider="custom_crm",
            to_contact=lambda raw: contact_from_custom(raw, region=tenant.country),
        )
        result = {
            "contacts": import_page(client_importer, contacts, resource="contacts"),
            "transactions": import_page(
                CustomTransactionImporter(tenant=tenant), transactions, resource="transactions"
            ),
        }
        IntegrationConnection.objects.filter(id=connection_id).update(
            last_sync_at=timezone.now(), updated_at=timezone.now()
        )
    return {
        name: {**{k.split(".", 1)[1]: v for k, v in counts.as_counts(name).items()}, "errors": counts.errors}
        for name, counts in result.items()
    }
