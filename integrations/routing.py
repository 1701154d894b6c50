"""Finding the tenant of an inbound request that has none (see models.ConnectionRoute).

These are the only functions that read across tenants, and what they read is a routing
row, never tenant data. Callers enter the routed tenant's context before touching anything
else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from brandvx.errors import BrandVXError
from integrations.models import ConnectionRoute

Kind = ConnectionRoute.Kind
API_KEY_PREFIX = "bvx_crm_"


class RouteTaken(BrandVXError):
    status_code = 409
    code = "already_connected"
    default_detail = "This provider account is already connected to another BrandVX account."


@dataclass(frozen=True)
class Route:
    tenant_id: uuid.UUID
    connection_id: uuid.UUID


def key_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


def route_set(*, kind: str, lookup: str, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> None:
    """Point `lookup` at the connection, replacing this connection's previous route of the
    same kind. Refuses a lookup that routes to another tenant (RouteTaken)."""
    existing = ConnectionRoute.objects.filter(kind=kind, lookup=lookup).first()
    if existing is not None:
        if existing.routed_tenant_id != tenant_id:
            raise RouteTaken()
        if existing.connection_id == connection_id:
            return
    with transaction.atomic():
        ConnectionRoute.objects.filter(kind=kind, connection_id=connection_id).exclude(lookup=lookup).delete()
        try:
            with transaction.atomic():
                ConnectionRoute.objects.update_or_create(
                    kind=kind, lookup=lookup, defaults={"routed_tenant_id": tenant_id, "connection_id": connection_id})
        except IntegrityError:
            raise RouteTaken() from None


def unscoped_route_find(*, kind: str, lookup: str) -> Route | None:
    """Cross-tenant lookup of a routing row. Returns ids only; enter the tenant next."""
    if not lookup:
        return None
    row = ConnectionRoute.objects.filter(kind=kind, lookup=lookup).values_list("routed_tenant_id", "connection_id").first()
    return Route(tenant_id=row[0], connection_id=row[1]) if row else None


def unscoped_route_for_api_key(api_key: str) -> Route | None:
    """The custom CRM connection an API key belongs to. The key's SHA-256 is the index; the
    digest is compared again in constant time so timing reveals nothing of stored digests."""
    if not api_key or not api_key.startswith(API_KEY_PREFIX) or len(api_key) > 200:
        return None
    digest = key_digest(api_key)
    row = ConnectionRoute.objects.filter(kind=Kind.API_KEY, lookup=digest).values_list(
        "lookup", "routed_tenant_id", "connection_id").first()
    if row is None or not hmac.compare_digest(row[0], digest):
        return None
    return Route(tenant_id=row[1], connection_id=row[2])
