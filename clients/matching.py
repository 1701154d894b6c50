"""Finding the existing client an imported record belongs to (CSV and provider imports)."""

from __future__ import annotations

from clients.models import Client, ClientExternalId
from tenants.models import Tenant, for_tenant


def find_existing_client(
    *,
    tenant: Tenant,
    provider: str | None = None,
    external_id: str | None = None,
    email_hash: str = "",
    phone_hash: str = "",
) -> tuple[Client | None, str]:
    """Match in order: the provider's external id, then the email hash, then the phone hash.

    Returns (client, how) with how in {"external_id", "email", "phone", ""}. Among the
    tenant's clients only (RLS, and `for_tenant` as the second belt).
    """
    if provider and external_id:
        link = (
            for_tenant(ClientExternalId.objects.select_related("client"), tenant)
            .filter(provider=provider, external_id=external_id)
            .first()
        )
        if link is not None:
            return link.client, "external_id"
    clients = for_tenant(Client.objects.all(), tenant)
    if email_hash:
        client = clients.filter(email_hash=email_hash).order_by("created_at").first()
        if client is not None:
            return client, "email"
    if phone_hash:
        client = clients.filter(phone_hash=phone_hash).order_by("created_at").first()
        if client is not None:
            return client, "phone"
    return None, ""
