"""Finding the existing client an imported record belongs to (CSV and provider imports)."""

from __future__ import annotations

from clients.models import Client, ClientExternalId


def find_existing_client(
    *, provider: str | None = None, external_id: str | None = None, email_hash: str = "", phone_hash: str = ""
) -> tuple[Client | None, str]:
    """Match in order: the provider's external id, then the email hash, then the phone hash.

    Returns (client, how) with how in {"external_id", "email", "phone", ""}. Runs in the
    current tenant context: RLS keeps the search inside the tenant.
    """
    if provider and external_id:
        link = (
            ClientExternalId.objects.select_related("client").filter(provider=provider, external_id=external_id).first()
        )
        if link is not None:
            return link.client, "external_id"
    if email_hash:
        client = Client.objects.filter(email_hash=email_hash).order_by("created_at").first()
        if client is not None:
            return client, "email"
    if phone_hash:
        client = Client.objects.filter(phone_hash=phone_hash).order_by("created_at").first()
        if client is not None:
            return client, "phone"
    return None, ""
