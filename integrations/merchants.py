"""What Square says a connection's token belongs to: the merchant kept on the connection and
the route of its webhooks. Written only with Square's own answer, by the sync engine (a
token refresh, a verification) and the OAuth flow."""

from __future__ import annotations

import uuid

from integrations.models import ConnectionRoute, IntegrationConnection, Provider
from integrations.routing import route_set
from tenants.context import tenant_context

Kind = ConnectionRoute.Kind


def square_merchant_record(
    *, tenant_id: uuid.UUID, connection_id: uuid.UUID, merchant_id: str, access_token: str
) -> bool:
    """Keep the merchant Square said `access_token` belongs to, and route its webhooks here.

    Called only with Square's own answer (GET /v2/merchants/me, the OAuth token response),
    never with a value from a request. If the connection's token changed since the question
    was asked, nothing is written (False): the new token gets its own answer.
    """
    with tenant_context(tenant_id, role="system"):
        connection = (
            IntegrationConnection.objects.select_for_update().filter(id=connection_id, provider=Provider.SQUARE).first()
        )
        if connection is None or not access_token or (connection.credentials or {}).get("access_token") != access_token:
            return False
        if connection.config.get("merchant_id") != merchant_id:
            connection.config = {**connection.config, "merchant_id": merchant_id}
            connection.save(update_fields=["config", "updated_at"])
        route_set(
            kind=Kind.SQUARE_MERCHANT, lookup=merchant_id, tenant_id=connection.tenant_id, connection_id=connection.id
        )
    return True
