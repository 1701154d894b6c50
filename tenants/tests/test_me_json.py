"""GET /me/ builds its JSON with me_json; MeSerializer (its schema) must give the same."""

import pytest

from tenants.api.serializers import MeSerializer
from tenants.context import user_context
from tenants.models import Membership
from tenants.testing import add_member

pytestmark = pytest.mark.django_db


def test_me_is_what_the_serializer_would_write(world):
    add_member(tenant=world.tenant_b, role="viewer", user=world.owner_a)
    with user_context(world.owner_a.id):
        memberships = list(
            Membership.objects.filter(user=world.owner_a).select_related("tenant").order_by("tenant__name")
        )
    assert len(memberships) == 2
    roles = {world.tenant_a.id: "owner_admin", world.tenant_b.id: "viewer"}
    for tenant in (world.tenant_a, world.tenant_b, None):
        response = world.client(world.owner_a, tenant).get("/api/v1/me/")
        assert response.status_code == 200
        chosen = next((m for m in memberships if tenant and m.tenant_id == tenant.id), None)
        expected = MeSerializer(
            {
                "id": world.owner_a.id,
                "email": world.owner_a.email,
                "tenant": chosen.tenant if chosen else None,
                "role": chosen.role if chosen else None,
                "memberships": memberships,
            }
        ).data
        assert response.json() == expected
        assert response.json()["role"] == (roles[tenant.id] if tenant else None)
