"""Changes to tenants and memberships."""

from __future__ import annotations

import uuid

from django.utils.text import slugify

from tenants.context import tenant_context
from tenants.models import Membership, Role, Tenant, User


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def tenant_create(
    *,
    name: str,
    owner_sub: uuid.UUID,
    owner_email: str = "",
    timezone: str = "UTC",
    currency: str = "USD",
    country: str = "US",
) -> Tenant:
    """Create a tenant and its first owner_admin (a user linked to the Supabase `sub`)."""
    tenant = Tenant(name=name, timezone=timezone, currency=currency, country=country)
    # One transaction for the tenant, its owner and the membership: all or nothing.
    with tenant_context(tenant.id, role="system"):
        tenant.slug = _unique_slug(name)
        tenant.full_clean()
        tenant.save(force_insert=True)
        user, _ = User.objects.get_or_create(id=owner_sub, defaults={"username": str(owner_sub), "email": owner_email})
        Membership.objects.create(tenant=tenant, user=user, role=Role.OWNER_ADMIN)
    return tenant


def membership_add(*, tenant: Tenant, user: User, role: str) -> Membership:
    with tenant_context(tenant.id, role="system"):
        # Annotated: TenantManager (tenants.models) is an untyped Manager, so its methods return Any.
        membership: Membership
        membership, _ = Membership.objects.update_or_create(
            tenant=tenant, user=user, defaults={"role": role, "is_active": True}
        )
    return membership
