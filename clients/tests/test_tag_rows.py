"""The tag list is built from rows (serializers.tag_json), single tags with TagSerializer:
both must give the same JSON, byte for byte (issue 15)."""

import pytest

from clients import selectors
from clients.api.serializers import TAG_ROW_FIELDS, TagSerializer, tag_json
from clients.services import client_tag_add
from clients.tests.factories import ClientFactory, TagFactory
from common.renderers import JSONRenderer
from tenants.context import tenant_context
from tenants.testing import assert_items_match_details, every_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def tags(world):
    """Tags with no, one and several clients; names in mixed case, non-ASCII."""
    tenant = world.tenant_a
    with tenant_context(tenant.id, role="system"):
        clients = [ClientFactory(tenant=tenant) for _ in range(3)]
        for name, carriers in (("vip", clients), ("Brunch", clients[:1]), ("émigré", clients[1:])):
            for client in carriers:
                client_tag_add(tenant=tenant, client_id=client.id, name=name)
        TagFactory(tenant=tenant, name="unused")
        TagFactory(tenant=tenant, name="Zed")
    with tenant_context(world.tenant_b.id, role="system"):
        other = ClientFactory(tenant=world.tenant_b)
        client_tag_add(tenant=world.tenant_b, client_id=other.id, name="vip")
    return tenant


def test_tag_rows_give_the_serializers_json(tags):
    render = JSONRenderer().render
    with tenant_context(tags.id, role="owner_admin"):
        queryset = selectors.tag_counts(tenant=tags).order_by("name", "id")
        from_serializer = TagSerializer(list(queryset), many=True).data
        from_rows = [tag_json(row) for row in queryset.values(*TAG_ROW_FIELDS)]
    assert len(from_rows) == 5
    assert render(from_rows) == render(from_serializer)
    assert sorted(item["client_count"] for item in from_rows) == [0, 0, 1, 2, 3]


def test_tag_list_and_detail_endpoints_agree_on_every_page(world, tags):
    listed = every_page(world.a, "/api/v1/tags/?page_size=2")
    assert sorted(item["name"] for item in listed) == sorted(["Brunch", "unused", "vip", "Zed", "émigré"])
    assert_items_match_details(world.a, listed, "/api/v1/tags/{id}/")
