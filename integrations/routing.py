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

from common.errors import Conflict
from integrations.models import ConnectionRoute

Kind = ConnectionRoute.Kind
API_KEY_PREFIX = "bvx_crm_"
# Kinds whose lookup may route to several connections (see models.ConnectionRoute).
SHARED_KINDS = {Kind.SQUARE_MERCHANT}


class RouteTaken(Conflict):
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
    same kind.

    Square merchants (SHARED_KINDS) may route to several connections: each one's merchant id
    is what Square answered to that connection's own token, so whoever holds it may read
    that merchant, and no tenant can keep another out by claiming first; nothing here
    depends on other tenants, so nothing here can tell a tenant about them. API-key digests
    and Acuity webhook tokens are random values we generate: a lookup routing to another
    connection is refused (RouteTaken, which only a collision of random values could raise).
    """
    if ConnectionRoute.objects.filter(kind=kind, lookup=lookup, connection_id=connection_id).exists():
        ConnectionRoute.objects.filter(kind=kind, connection_id=connection_id).exclude(lookup=lookup).delete()
        return
    if kind not in SHARED_KINDS and ConnectionRoute.objects.filter(kind=kind, lookup=lookup).exists():
        raise RouteTaken()
    with transaction.atomic():
        ConnectionRoute.objects.filter(kind=kind, connection_id=connection_id).delete()
        try:
            with transaction.atomic():
                ConnectionRoute.objects.create(
                    kind=kind, lookup=lookup, routed_tenant_id=tenant_id, connection_id=connection_id
                )
        except IntegrityError:
            raise RouteTaken() from None


def route_clear(*, kind: str, connection_id: uuid.UUID) -> None:
    """Remove the connection's route of this kind (its merchant is no longer verified)."""
    ConnectionRoute.objects.filter(kind=kind, connection_id=connection_id).delete()


def unscoped_routes_find(*, kind: str, lookup: str) -> list[Route]:
    """Cross-tenant lookup of the routing rows of `lookup` (several for a Square merchant
    connected by several tenants). Returns ids only; enter each tenant next."""
    if not lookup:
        return []
    rows = (
        ConnectionRoute.objects.filter(kind=kind, lookup=lookup)
        .order_by("created_at", "id")
        .values_list("routed_tenant_id", "connection_id")
    )
    return [Route(tenant_id=tenant_id, connection_id=connection_id) for tenant_id, connection_id in rows]


def unscoped_route_find(*, kind: str, lookup: str) -> Route | None:
    """Cross-tenant lookup of a single-connection routing row (not SHARED_KINDS)."""
    if kind in SHARED_KINDS:
        raise ValueError("a Square merchant may route to several connections: use unscoped_routes_find")
    routes = unscoped_routes_find(kind=kind, lookup=lookup)
    return routes[0] if routes else None


def unscoped_route_for_api_key(api_key: str) -> Route | None:
    """The custom CRM connection an API key belongs to. The key's SHA-256 is the index; the
    digest is compared again in constant time so timing reveals nothing of stored digests."""
    if not api_key or not api_key.startswith(API_KEY_PREFIX) or len(api_key) > 200:
        return None
    digest = key_digest(api_key)
    row = (
        ConnectionRoute.objects.filter(kind=Kind.API_KEY, lookup=digest)
        .values_list("lookup", "routed_tenant_id", "connection_id")
        .first()
    )
    if row is None or not hmac.compare_digest(row[0], digest):
        return None
    return Route(tenant_id=row[1], connection_id=row[2])
