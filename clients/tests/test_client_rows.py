"""Lists are built from rows (selectors.client_rows + serializers.client_json), details with
ClientSerializer: both must give the same JSON, byte for byte, for every kind of client."""

import datetime

import pytest
from django.utils import timezone

from clients import selectors
from clients.api.serializers import ClientSerializer, client_json
from clients.models import Client, Source
from clients.services import client_provider_deleted, client_tag_add
from clients.tests.factories import ClientExternalIdFactory, ClientFactory
from common.renderers import JSONRenderer
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture
def varied(world):
    """Clients with and without each optional value; tags in mixed case and non-ASCII."""
    tenant = world.tenant_a
    with tenant_context(tenant.id, role="system"):
        full = ClientFactory(
            tenant=tenant,
            first_name="Zoë",
            last_name="Ångström",
            phone="+14155550123",
            phone_extension="42",
            birthday_month=2,
            birthday_day=29,
            birth_year=1992,
            notes="line one\nline two \u2028 with a separator",
            source=Source.SQUARE,
            email_consent=True,
            sms_consent=False,
            sms_consent_at=timezone.now() - datetime.timedelta(days=3),
        )
        for name in ("vip", "Brunch", "émigré", "Zed"):
            client_tag_add(tenant=tenant, client_id=full.id, name=name)
        for provider, external in (("square", "SQ-2"), ("acuity", "77"), ("square", "SQ-10")):
            ClientExternalIdFactory(tenant=tenant, client=full, provider=provider, external_id=external)
        bare = ClientFactory(tenant=tenant, first_name="", last_name="", email="", phone="+14155550999")
        no_year = ClientFactory(tenant=tenant, first_name="Ann", birthday_month=12, birthday_day=31)
        archived = ClientFactory(tenant=tenant, first_name="Gone", email="gone@example.com", source=Source.SQUARE)
        ClientExternalIdFactory(tenant=tenant, client=archived, provider="square", external_id="SQ-GONE")
        assert client_provider_deleted(tenant=tenant, provider="square", external_id="SQ-GONE") == "archived"
    return tenant, [full.id, bare.id, no_year.id, archived.id]


def test_rows_give_the_serializers_json_for_every_kind_of_client(varied):
    tenant, client_ids = varied
    render = JSONRenderer().render
    with tenant_context(tenant.id, role="owner_admin"):
        queryset = selectors.client_list(tenant=tenant).filter(id__in=client_ids).order_by("id")
        from_serializer = ClientSerializer(list(queryset), many=True).data
        from_rows = [client_json(row) for row in selectors.client_rows(queryset, tenant=tenant)]
    assert len(from_rows) == 4
    assert render(from_rows) == render(from_serializer)
    full = next(item for item in from_serializer if item["first_name"] == "Zoë")
    assert full["tags"] == ["Brunch", "vip", "Zed", "émigré"]  # by code point of the lower case
    assert [e["external_id"] for e in full["external_ids"]] == ["77", "SQ-10", "SQ-2"]


def test_list_and_detail_endpoints_agree(world, varied):
    tenant, client_ids = varied
    listed = world.a.get("/api/v1/clients/", {"archived": "true"}).json()["results"]
    listed += world.a.get("/api/v1/clients/").json()["results"]
    assert sorted(item["id"] for item in listed) == sorted(str(i) for i in client_ids)
    for item in listed:
        # A list row also carries its detail's `url` (issue 23); the rest is the detail.
        assert item.pop("url") == f"http://testserver/api/v1/clients/{item['id']}/"
        assert world.a.get(f"/api/v1/clients/{item['id']}/").json() == item


def test_birthdays_endpoint_gives_the_serializers_shape(world, varied):
    tenant, client_ids = varied
    response = world.a.get("/api/v1/clients/birthdays/", {"from": "2027-02-27", "days_ahead": 5})
    assert response.status_code == 200
    body = response.json()
    # 2027 is a common year: the Feb 29 birthday is celebrated on Feb 28.
    assert body["count"] == 1 and body["results"][0]["date"] == "2027-02-28"
    assert body["results"][0]["turning"] == 35 and body["results"][0]["days_until"] == 1
    detail = world.a.get(f"/api/v1/clients/{body['results'][0]['client']['id']}/").json()
    assert body["results"][0]["client"] == detail
    assert set(body) == {"start", "end", "days_ahead", "count", "next", "previous", "results"}


def test_compiled_and_orm_subqueries_give_the_same_rows(varied):
    """client_rows uses the subqueries compiled once per tenant; the ORM's own expressions
    (its path when the clients table is aliased) must read the same rows, with a join too."""
    from django.db.models import Count

    tenant, client_ids = varied
    with tenant_context(tenant.id, role="owner_admin"):
        for queryset in (
            Client.objects.filter(id__in=client_ids).order_by("id"),
            Client.objects.filter(id__in=client_ids).annotate(n=Count("client_tags")).order_by("id"),
        ):
            compiled = list(selectors.client_rows(queryset, tenant=tenant))
            orm = list(queryset.values(*selectors.CLIENT_ROW_FIELDS, **selectors._row_aggregates(str(tenant.id))))
            assert len(compiled) == 4 and compiled == orm
            assert any(row["tag_names"] for row in compiled) and any(row["external_id_pairs"] for row in compiled)


def test_the_tenant_rows_base_is_shared_but_never_evaluated(world, varied):
    """tenant_client_rows hands out copies of one queryset per tenant: evaluating or
    filtering a copy leaves the shared one as it was, and each tenant has its own."""
    tenant, client_ids = varied
    with tenant_context(tenant.id, role="owner_admin"):
        first = selectors.tenant_client_rows(tenant=tenant)
        assert len(list(first.filter(id__in=client_ids))) == 4
        shared = selectors._tenant_client_rows(str(tenant.id), True)
        where = str(shared.query).split(' FROM "clients_client" ', 1)[1]
        assert shared._result_cache is None and where == 'WHERE "clients_client"."tenant_id" = ' + str(tenant.id)
        second = selectors.tenant_client_rows(tenant=tenant)
        assert second is not shared and second is not first
        assert {row["id"] for row in second.filter(id__in=client_ids)} == set(client_ids)
        active = selectors._tenant_client_rows(str(tenant.id), False)
        assert active is not shared
        assert str(active.query).endswith(f'"tenant_id" = {tenant.id} AND "clients_client"."archived_at" IS NULL)')
    other = selectors._tenant_client_rows(str(world.tenant_b.id), True)
    assert other is not shared and str(world.tenant_b.id) in str(other.query)


def test_the_list_leaves_out_archived_clients_unless_asked(world, varied):
    tenant, client_ids = varied
    archived_id = str(client_ids[3])

    def listed(**params):
        response = world.a.get("/api/v1/clients/", params)
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["results"]}

    default = listed()
    assert archived_id not in default and default == {str(i) for i in client_ids[:3]}
    assert listed(archived="false") == default
    assert listed(archived="true") == {archived_id}
