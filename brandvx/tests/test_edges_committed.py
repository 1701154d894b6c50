"""The API's edges as production meets them (issue 24), without a test transaction: a JSON body
that names a key twice, and instants outside the supported years once converted to UTC."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from conftest import make_tenant
from tenants.testing import api_client

pytestmark = pytest.mark.usefixtures("committed")


def _salon():
    tenant, owner = make_tenant(f"Edges {uuid.uuid4().hex[:8]}")
    return tenant, api_client(owner, tenant=tenant)


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("/api/v1/clients/", '{"first_name": "Ana", "first_name": "Bea"}', "first_name"),
        ("/api/v1/clients/", '{"first_name": "Ana", "notes": {"x": 1}, "notes": ""}', "notes"),
        (
            "/api/v1/transactions/",
            '{"occurred_at": "2025-01-01T10:00:00Z", "line_items": [{"amount": 100, "amount": 1}]}',
            "amount",
        ),
    ],
)
def test_a_json_body_that_names_a_key_twice_is_400(path, body, key):
    """Info finding: duplicate keys were accepted, the last one winning silently."""
    tenant, api = _salon()
    before = api.get(path).json()["results"]
    response = api.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json() == {
        "code": "duplicate_key",
        "detail": f"A JSON object names the key {key!r} twice.",
        "fields": {key: ["is named twice in one JSON object."]},
    }
    assert api.get(path).json()["results"] == before  # nothing was written


def test_the_same_body_without_the_duplicate_is_accepted():
    _tenant, api = _salon()
    response = api.generic("POST", "/api/v1/clients/", '{"first_name": "Bea"}', content_type="application/json")
    assert response.status_code == 201 and response.json()["first_name"] == "Bea"


OUT_OF_RANGE_IN_UTC = [
    "1900-01-01T00:00:00+14:00",  # 1899-12-31T10:00:00Z: was stored as 1899
    "1900-01-01T05:00:00+05:30",  # 1899-12-31T23:30:00Z
    "2999-12-31T23:30:00-05:00",  # 3000-01-01T04:30:00Z
]
IN_RANGE = ["1900-01-01T00:00:00Z", "1900-01-01T10:00:00+01:00", "2999-12-31T23:59:59Z", "2999-12-31T20:00:00-03:00"]


@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [("/api/v1/appointments/", "start_at", {}), ("/api/v1/transactions/", "occurred_at", {"total_amount": 100})],
)
def test_instants_outside_the_supported_years_in_utc_are_400(path, field, extra):
    _tenant, api = _salon()
    for instant in OUT_OF_RANGE_IN_UTC:
        response = api.post(path, {field: instant, **extra}, format="json")
        assert response.status_code == 400, (instant, response.content)
        assert field in response.json()["fields"], response.json()
    for instant in IN_RANGE:
        response = api.post(path, {field: instant, **extra}, format="json")
        assert response.status_code == 201, (instant, response.content)


def test_the_custom_crm_push_refuses_the_same_instants_per_record():
    _tenant, api = _salon()
    key = api.post("/api/v1/integrations/", {"provider": "custom_crm"}, format="json").json()["api_key"]
    payload = {
        "transactions": [
            {"external_id": "t-early", "occurred_at": "1900-01-01T00:00:00+14:00", "total_amount": 100},
            {"external_id": "t-late", "occurred_at": "2999-12-31T23:30:00-05:00", "total_amount": 100},
            {"external_id": "t-fine", "occurred_at": "1900-01-01T00:00:00Z", "total_amount": 100},
        ]
    }
    response = APIClient().post(
        "/api/v1/integrations/custom_crm/import/", payload, format="json", HTTP_X_BRANDVX_KEY=key
    )
    assert response.status_code == 200, response.content
    result = response.json()["transactions"]
    assert (result["created"], result["failed"]) == (1, 2), result
    assert sorted(error["external_id"] for error in result["errors"]) == ["t-early", "t-late"]
    assert all("outside the years 1900 to 2999" in str(error) for error in result["errors"]), result["errors"]
