"""The analytics API: CRUD, refunds, filters, insights; roles and tenant isolation."""

from __future__ import annotations

import pytest

from analytics.models import Service, Transaction
from analytics.tests import factories as f
from analytics.tests import world as analytics_world
from clients.tests import world as clients_world
from tenants.context import tenant_context
from tenants.testing import api_client

OBJECTS = [
    ("/api/v1/service-categories/", "category_id"),
    ("/api/v1/services/", "service_id"),
    ("/api/v1/appointments/", "appointment_id"),
    ("/api/v1/transactions/", "transaction_id"),
]
INSIGHTS = [
    "/api/v1/analytics/dashboard/",
    "/api/v1/analytics/revenue-by-service/",
    "/api/v1/analytics/revenue-timeseries/",
    "/api/v1/analytics/top-clients/",
]


@pytest.fixture
def shop(world):
    """Both tenants with a client, a category, a service, an appointment and a sale each."""
    for key, tenant, owner in (("a", world.tenant_a, world.owner_a), ("b", world.tenant_b, world.owner_b)):
        world.data[key]["clients"] = clients_world.build(world, tenant, owner)
        world.data[key]["analytics"] = analytics_world.build(world, tenant, owner)
    return world


def ids(world, key: str) -> dict:
    return {**world.data[key]["clients"], **world.data[key]["analytics"]}


def listed_ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# --- isolation and roles -----------------------------------------------------------------


@pytest.mark.parametrize("url,key", OBJECTS)
def test_tenant_b_cannot_see_or_touch_tenant_a_objects(shop, url, key):
    a_id, b_id = str(ids(shop, "a")[key]), str(ids(shop, "b")[key])
    assert shop.a.get(f"{url}{a_id}/").status_code == 200
    assert shop.b.get(f"{url}{a_id}/").status_code == 404
    assert shop.b.patch(f"{url}{a_id}/", {"staff_name": "x", "name": "x"}).status_code == 404
    assert shop.b.delete(f"{url}{a_id}/").status_code == 404
    assert listed_ids(shop.b.get(url)) == {b_id}
    assert listed_ids(shop.a.get(url)) == {a_id}
    assert shop.a.get(f"{url}{a_id}/").status_code == 200  # still there


def test_tenant_b_cannot_refund_tenant_a_transaction(shop):
    a_sale = ids(shop, "a")["transaction_id"]
    assert shop.b.post(f"/api/v1/transactions/{a_sale}/refund/", {}).status_code == 404
    with tenant_context(shop.tenant_a.id, role="system"):
        assert Transaction.objects.get(id=a_sale).refunded_amount == 1000  # the world's own refund only


@pytest.mark.parametrize("url,key", OBJECTS)
def test_viewer_reads_but_cannot_write(shop, url, key):
    viewer = shop.client(shop.viewer_a, shop.tenant_a)
    a_id = ids(shop, "a")[key]
    assert viewer.get(url).status_code == 200
    assert viewer.get(f"{url}{a_id}/").status_code == 200
    assert viewer.post(url, {"name": "x"}).status_code == 403
    assert viewer.patch(f"{url}{a_id}/", {"name": "x"}).status_code == 403
    assert viewer.delete(f"{url}{a_id}/").status_code == 403


def test_only_owners_delete_transactions(shop):
    a_sale = ids(shop, "a")["transaction_id"]
    staff = shop.client(shop.staff_a, shop.tenant_a)
    assert staff.delete(f"/api/v1/transactions/{a_sale}/").status_code == 403
    assert shop.a.delete(f"/api/v1/transactions/{a_sale}/").status_code == 204


@pytest.mark.parametrize("url", [url for url, _ in OBJECTS] + INSIGHTS)
def test_anonymous_gets_401(shop, url):
    assert api_client().get(url, {"start": "2025-01-01", "end": "2025-01-31"}).status_code == 401


# --- writes ------------------------------------------------------------------------------


def test_staff_creates_a_transaction_with_nested_lines(shop):
    staff = shop.client(shop.staff_a, shop.tenant_a)
    mine = ids(shop, "a")
    response = staff.post(
        "/api/v1/transactions/",
        {
            "client": str(mine["client_id"]),
            "occurred_at": "2025-05-01T10:00:00-07:00",
            "currency": "USD",
            "line_items": [
                {"service": str(mine["service_id"]), "quantity": "2", "amount": 30000},
                {"description": "Shampoo", "amount": 2500},
            ],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["total_amount"], body["currency"], body["status"], body["refunded_amount"]) == (
        32500,
        "USD",
        "completed",
        0,
    )
    assert sorted((line["amount"], line["service_name"]) for line in body["line_items"]) == [
        (2500, None),
        (30000, "Balayage-SalonA"),
    ]
    read = shop.a.get(f"/api/v1/transactions/{body['id']}/").json()
    assert len(read["line_items"]) == 2 and read["client"] == str(mine["client_id"])


@pytest.mark.parametrize(
    "body,field",
    [
        ({"line_items": [{"service": "B_SERVICE", "amount": 100}]}, "line_items[0].service"),
        ({"total_amount": 100, "client": "B_CLIENT"}, "client"),
    ],
)
def test_ids_of_another_tenant_in_a_body_are_not_found(shop, body, field):
    theirs = ids(shop, "b")
    body = {key: value for key, value in body.items()}
    if "client" in body:
        body["client"] = str(theirs["client_id"])
    else:
        body["line_items"][0]["service"] = str(theirs["service_id"])
    response = shop.a.post("/api/v1/transactions/", {"occurred_at": "2025-05-01T10:00:00Z", **body})
    assert response.status_code == 400
    assert response.json() == {
        "code": "validation_error",
        "detail": f"{field}: not found.",
        "fields": {field: ["not found."]},
    }


def test_service_with_another_tenants_category_is_refused(shop):
    response = shop.a.post("/api/v1/services/", {"name": "Gloss", "category": str(ids(shop, "b")["category_id"])})
    assert response.status_code == 400 and response.json()["fields"].keys() == {"category"}
    with tenant_context(shop.tenant_a.id, role="system"):
        assert not Service.objects.filter(name="Gloss").exists()


def test_appointment_with_another_tenants_client_is_refused(shop):
    response = shop.a.post(
        "/api/v1/appointments/",
        {
            "start_at": "2025-05-01T10:00:00Z",
            "client": str(ids(shop, "b")["client_id"]),
        },
    )
    assert response.status_code == 400 and response.json()["fields"].keys() == {"client"}


@pytest.mark.parametrize("amount", [12.5, 12.0, "12.50", "abc"])
def test_money_must_be_integer_minor_units(shop, amount):
    response = shop.a.post("/api/v1/transactions/", {"occurred_at": "2025-05-01T10:00:00Z", "total_amount": amount})
    assert response.status_code == 400
    assert "total_amount" in response.json()["fields"]


def test_refund_action_partial_then_full(shop):
    staff = shop.client(shop.staff_a, shop.tenant_a)
    sale = ids(shop, "a")["transaction_id"]  # 15000, 1000 of it refunded already
    response = staff.post(f"/api/v1/transactions/{sale}/refund/", {"amount": 5000})
    assert response.status_code == 200 and (response.json()["refunded_amount"], response.json()["status"]) == (
        6000,
        "completed",
    )
    assert [r["amount"] for r in response.json()["refunds"]] == [1000, 5000]
    response = staff.post(f"/api/v1/transactions/{sale}/refund/", {"amount": 10001})
    assert response.status_code == 400 and response.json()["fields"].keys() == {"amount"}
    response = staff.post(f"/api/v1/transactions/{sale}/refund/", {})
    assert response.status_code == 200 and (response.json()["refunded_amount"], response.json()["status"]) == (
        15000,
        "refunded",
    )
    viewer = shop.client(shop.viewer_a, shop.tenant_a)
    assert viewer.post(f"/api/v1/transactions/{sale}/refund/", {}).status_code == 403
    # Nothing left to refund: the sale's state conflicts with the request (409, issue 23).
    again = staff.post(f"/api/v1/transactions/{sale}/refund/", {})
    assert again.status_code == 409, again.content
    assert again.json()["code"] == "conflict" and again.json()["fields"].keys() == {"amount"}
    assert "already fully refunded" in again.json()["detail"]


def test_refunding_a_failed_sale_is_a_conflict(shop):
    sale = ids(shop, "a")["transaction_id"]
    failed = shop.a.post(
        "/api/v1/transactions/",
        {"occurred_at": "2026-01-05T10:00:00Z", "total_amount": 500, "status": "failed"},
    )
    assert failed.status_code == 201, failed.content
    response = shop.a.post(f"/api/v1/transactions/{failed.json()['id']}/refund/", {})
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert response.json()["fields"].keys() == {"transaction"}
    assert shop.a.get(f"/api/v1/transactions/{sale}/").status_code == 200


def test_patching_refunded_amount_is_refused(shop):
    sale = ids(shop, "a")["transaction_id"]
    response = shop.a.patch(f"/api/v1/transactions/{sale}/", {"refunded_amount": 10})
    # Read-only on update (the schema says so too): refused by name.
    assert response.status_code == 400 and response.json()["fields"] == {
        "refunded_amount": ["This field is read-only."]
    }


def test_category_and_service_crud(shop):
    created = shop.a.post("/api/v1/service-categories/", {"name": "Nails"})
    assert created.status_code == 201
    duplicate = shop.a.post("/api/v1/service-categories/", {"name": "NAILS"})
    # A name already used: 409 `conflict` naming it (400 before issue 23).
    assert duplicate.status_code == 409 and duplicate.json()["fields"].keys() == {"name"}
    assert duplicate.json()["code"] == "conflict" and "already used" in duplicate.json()["detail"]
    service = shop.a.post("/api/v1/services/", {"name": "Gel", "category": created.json()["id"], "price_amount": 4500})
    assert service.status_code == 201 and service.json()["category_name"] == "Nails"
    patched = shop.a.patch(f"/api/v1/services/{service.json()['id']}/", {"currency": "XYZ"})
    assert patched.status_code == 400 and "currency" in patched.json()["fields"]
    assert shop.a.delete(f"/api/v1/service-categories/{created.json()['id']}/").status_code == 204
    assert shop.a.get(f"/api/v1/services/{service.json()['id']}/").json()["category"] is None


# --- filters -----------------------------------------------------------------------------


def test_transaction_filters_use_local_dates_client_service_and_status(shop):
    a = shop.tenant_a
    mine = ids(shop, "a")
    with tenant_context(a.id, role="system"):
        service = Service.objects.get(id=mine["service_id"])
        late = f.sale(a, f.local(a, 2025, 1, 31, 23, 30), 100, lines=[(service, 1, 100)])  # Feb 1 in UTC
        early = f.sale(a, f.local(a, 2025, 2, 1, 0, 30), 200, status="failed")
    jan31 = listed_ids(shop.a.get("/api/v1/transactions/", {"start": "2025-01-31", "end": "2025-01-31"}))
    assert jan31 == {str(late.id)}
    feb = listed_ids(shop.a.get("/api/v1/transactions/", {"start": "2025-02-01", "end": "2025-02-28"}))
    assert feb == {str(early.id)}
    assert listed_ids(shop.a.get("/api/v1/transactions/", {"status": "failed"})) == {str(early.id)}
    by_service = listed_ids(shop.a.get("/api/v1/transactions/", {"service": str(mine["service_id"])}))
    assert by_service == {str(late.id), str(mine["transaction_id"])}
    by_client = listed_ids(shop.a.get("/api/v1/transactions/", {"client": str(mine["client_id"])}))
    assert by_client == {str(mine["transaction_id"])}
    # Another tenant's client as a filter finds nothing, exactly like an id that names nothing.
    response = shop.a.get("/api/v1/transactions/", {"client": str(ids(shop, "b")["client_id"])})
    assert response.status_code == 200 and response.json()["results"] == []
    assert shop.a.get("/api/v1/transactions/", {"start": "31/01/2025"}).status_code == 400


def test_appointment_filters(shop):
    mine = ids(shop, "a")
    assert listed_ids(shop.a.get("/api/v1/appointments/", {"status": "completed"})) == {str(mine["appointment_id"])}
    assert listed_ids(shop.a.get("/api/v1/appointments/", {"status": "no_show"})) == set()
    assert listed_ids(shop.a.get("/api/v1/appointments/", {"service": str(mine["service_id"])})) == {
        str(mine["appointment_id"])
    }
    assert listed_ids(shop.a.get("/api/v1/appointments/", {"end": "2020-01-01"})) == set()


# --- insights ----------------------------------------------------------------------------


def _period_with_world_data(world) -> dict:
    today = world.tenant_a.today()
    return {"start": today.replace(day=1).replace(year=today.year - 1).isoformat(), "end": today.isoformat()}


@pytest.mark.parametrize("url", INSIGHTS)
def test_insights_of_tenant_b_never_include_tenant_a(shop, url):
    params = _period_with_world_data(shop)
    a_body, b_body = shop.a.get(url, params), shop.b.get(url, params)
    assert a_body.status_code == b_body.status_code == 200
    assert str(ids(shop, "a")["client_id"]) not in b_body.content.decode()
    assert "SalonA" not in b_body.content.decode()
    viewer = shop.client(shop.viewer_a, shop.tenant_a)
    assert viewer.get(url, params).json() == a_body.json()  # viewers read insights


def test_dashboard_endpoint_shape(shop):
    body = shop.a.get("/api/v1/analytics/dashboard/", _period_with_world_data(shop)).json()
    usd = body["currencies"][0]
    # The world's sale of 15000 with its refund of 1000 (dated the next day, in the period too).
    assert usd["currency"] == "USD" and usd["revenue"]["current"] == 14000
    assert (usd["gross_sales"]["current"], usd["refunds"]["current"]) == (15000, 1000)
    assert usd["average_ticket"] == {"current": 14000, "previous": 0, "change_percent": None}
    assert body["active_clients"]["current"] == 1
    assert isinstance(body["no_show_rate"]["current"], float)


def test_revenue_by_service_endpoint_shape(shop):
    body = shop.a.get("/api/v1/analytics/revenue-by-service/", _period_with_world_data(shop)).json()
    [usd] = body["currencies"]
    [color] = usd["categories"]
    assert (color["category_name"], color["revenue"], color["transactions"]) == ("Color-SalonA", 14000, 1)
    assert color["services"][0]["service_name"] == "Balayage-SalonA" and color["services"][0]["quantity"] == 1.0


def test_timeseries_and_top_clients_endpoint_shapes(shop):
    params = _period_with_world_data(shop)
    series = shop.a.get("/api/v1/analytics/revenue-timeseries/", {**params, "interval": "month"}).json()
    buckets = series["currencies"][0]["buckets"]
    assert len(buckets) == 13 and sum(b["revenue"] for b in buckets) == 14000
    top = shop.a.get("/api/v1/analytics/top-clients/", {**params, "limit": 5}).json()
    [client] = top["currencies"][0]["clients"]
    assert (client["client_id"], client["revenue"], client["visits"]) == (str(ids(shop, "a")["client_id"]), 14000, 1)


@pytest.mark.parametrize("url", INSIGHTS)
@pytest.mark.parametrize(
    "params,parameter",
    [
        ({"end": "2025-01-31"}, "start"),
        ({"start": "2025-01-01"}, "end"),
        ({"start": "2025-1-1", "end": "2025-01-31"}, "start"),
        ({"start": "20250101", "end": "2025-01-31"}, "start"),
        ({"start": "2025-02-30", "end": "2025-03-31"}, "start"),
        ({"start": "2025-01-01", "end": "yesterday"}, "end"),
        ({"start": "2025-02-01", "end": "2025-01-31"}, "end"),
        ({"start": "2022-01-01", "end": "2025-01-01"}, "end"),
        ({"start": "0001-01-01", "end": "0001-01-31"}, "start"),
        ({"start": "9999-12-01", "end": "9999-12-31"}, "start"),
        ({"start": "2025-01-01", "end": "9999-12-31"}, "end"),
    ],
)
def test_bad_periods_are_400_naming_the_parameter(shop, url, params, parameter):
    response = shop.a.get(url, params)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error" and response.json()["fields"].keys() == {parameter}


@pytest.mark.parametrize(
    "url,params,parameter",
    [
        ("/api/v1/analytics/revenue-timeseries/", {"interval": "year"}, "interval"),
        ("/api/v1/analytics/revenue-timeseries/", {"interval": ""}, "interval"),
        ("/api/v1/analytics/top-clients/", {"limit": "0"}, "limit"),
        ("/api/v1/analytics/top-clients/", {"limit": "101"}, "limit"),
        ("/api/v1/analytics/top-clients/", {"limit": "ten"}, "limit"),
        ("/api/v1/analytics/top-clients/", {"limit": "-1"}, "limit"),
    ],
)
def test_bad_interval_and_limit(shop, url, params, parameter):
    response = shop.a.get(url, {"start": "2025-01-01", "end": "2025-01-31", **params})
    assert response.status_code == 400 and response.json()["fields"].keys() == {parameter}


def test_three_full_years_are_accepted(shop):
    response = shop.a.get(
        "/api/v1/analytics/revenue-timeseries/", {"start": "2022-01-01", "end": "2024-12-31", "interval": "week"}
    )
    assert response.status_code == 200


def test_uniqueness_conflicts_are_409_on_create_and_update(shop):
    url = "/api/v1/service-categories/"
    first = shop.a.post(url, {"name": "Balayage"})
    second = shop.a.post(url, {"name": "Gloss"})
    assert first.status_code == second.status_code == 201
    taken = shop.a.post(url, {"name": "balayage"})
    assert taken.status_code == 409 and taken.json() == {
        "code": "conflict",
        "detail": "name: is already used in this tenant.",
        "fields": {"name": ["is already used in this tenant."]},
    }
    renamed = shop.a.patch(f"{url}{second.json()['id']}/", {"name": "Balayage"})
    assert renamed.status_code == 409 and renamed.json()["fields"].keys() == {"name"}
    # The same name in another tenant is no conflict.
    assert shop.b.post(url, {"name": "Balayage"}).status_code == 201


def test_the_schema_documents_the_409s_and_refunded_amount_read_only_on_update():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    for path, method in (
        ("/api/v1/service-categories/", "post"),
        ("/api/v1/service-categories/{id}/", "put"),
        ("/api/v1/services/{id}/", "patch"),
        ("/api/v1/transactions/", "post"),
        ("/api/v1/transactions/{id}/refund/", "post"),
    ):
        assert "409" in paths[path][method]["responses"], (method, path)
    components = schema["components"]["schemas"]
    for method, name in (("put", "TransactionUpdateRequest"), ("patch", "PatchedTransactionUpdateRequest")):
        body = paths["/api/v1/transactions/{id}/"][method]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{name}"}
        assert "refunded_amount" not in components[name]["properties"]
        assert components[name]["additionalProperties"] is False
    assert "refunded_amount" in components["TransactionRequest"]["properties"]  # on create it is allowed
