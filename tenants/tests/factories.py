"""Factories for the tenants app's models, used by every app's tests (conftest's two-tenant
world, `tenants.testing.add_member`).

They create through the services, as the application does: a tenant with its owner_admin in
one transaction (`tenant_create`), a membership in the tenant's context (`membership_add`).
"""

from __future__ import annotations

import uuid
from typing import Any

import factory

from tenants.models import Membership, Role, Tenant, User
from tenants.services import membership_add, tenant_create


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User

    username = factory.LazyFunction(lambda: f"user-{uuid.uuid4()}")
    email = factory.LazyFunction(lambda: f"{uuid.uuid4().hex[:8]}@example.com")


class TenantFactory(factory.django.DjangoModelFactory[Tenant]):
    """A tenant and its owner_admin (`owner`, made by UserFactory unless given)."""

    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Salon {n}")
    timezone = "UTC"
    currency = "USD"
    country = "US"

    @classmethod
    def _create(cls, model_class: type[Tenant], *args: Any, owner: User | None = None, **kwargs: Any) -> Tenant:
        owner = owner or UserFactory.create(email=f"owner@{kwargs['name'].lower().replace(' ', '-')}.test")
        return tenant_create(owner_sub=owner.id, owner_email=owner.email, **kwargs)


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.STAFF

    @classmethod
    def _create(cls, model_class: type[Membership], *args: Any, **kwargs: Any) -> Membership:
        return membership_add(tenant=kwargs["tenant"], user=kwargs["user"], role=kwargs["role"])
