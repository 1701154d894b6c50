"""The membership lookup (tenants.context.resolution.active_memberships) writes its SQL once from
the models' metadata: it must find exactly what the ORM queryset it replaces finds."""

import pytest
from django.db.models import Model

from conftest import make_tenant
from tenants.context import tenant_context, user_context
from tenants.context.resolution import active_memberships
from tenants.models import Membership, Tenant
from tenants.testing import add_member

pytestmark = pytest.mark.django_db


def _values(instance: Model) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_same_memberships_tenants_and_users_as_the_orm(world, django_assert_num_queries):
    user = world.owner_a
    add_member(tenant=world.tenant_b, role="viewer", user=user)
    add_member(tenant=world.tenant_b, role="staff")  # someone else's: not listed
    closed, _ = make_tenant("Closed salon")
    add_member(tenant=closed, role="staff", user=user)
    left, _ = make_tenant("Left salon")
    add_member(tenant=left, role="staff", user=user)
    with tenant_context(closed.id, role="system"):
        Tenant.objects.filter(id=closed.id).update(is_active=False)
    with tenant_context(left.id, role="system"):
        Membership.objects.filter(tenant=left, user=user).update(is_active=False)
    with user_context(user.id):
        expected = list(
            Membership.objects.filter(user_id=user.id, is_active=True, tenant__is_active=True)
            .select_related("tenant", "user")
            .order_by("tenant__name")
        )
        with django_assert_num_queries(1):
            found = active_memberships(user.id)
            assert [m.tenant.name for m in found] == ["Salon A", "Salon B"]  # loaded, no query
            assert {m.user.pk for m in found} == {user.pk}
    assert len(expected) == 2
    for mine, theirs in zip(found, expected, strict=True):
        assert _values(mine) == _values(theirs)
        assert _values(mine.tenant) == _values(theirs.tenant)
        assert _values(mine.user) == _values(theirs.user)
        assert not mine._state.adding and mine._state.db == "default"


def test_nothing_without_the_users_context(world):
    assert active_memberships(world.owner_a.id) == []  # RLS: no context, no rows
