"""Unknown query parameters are refused on every endpoint (issue 23 item 3): 400
`unknown_parameter` naming the parameter, while `format`, `cursor`, `page_size`, `ordering`
and every documented parameter pass that check. The walk reads the schema's operations and
the URL router, so an endpoint added tomorrow is checked tomorrow."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from common.query import documented_query_parameters

pytestmark = pytest.mark.django_db

PATH_VALUES = {
    "id": str(uuid.uuid4()),
    "job_id": str(uuid.uuid4()),
    "provider": "square",
    "name": "vip",
    "token": "t0ken",
    "tenant_id": str(uuid.uuid4()),
    "esp": "postmark",
}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)
            yield method, path, url, operation


def _call(client, method: str, url: str):
    return getattr(client, method)(url, format="json") if method != "get" else client.get(url)


def test_every_operation_refuses_an_unknown_query_parameter_naming_it(world, schema):
    owner = world.a
    checked = []
    for method, path, url, _operation in _operations(schema):
        response = _call(owner, method, f"{url}?colour=blue")
        assert response.status_code == 400, f"{method.upper()} {path}: {response.status_code} {response.content[:200]}"
        body = response.json()
        assert body["code"] == "unknown_parameter", (path, body)
        assert body["fields"].keys() == {"colour"}, (path, body)
        assert body["detail"].startswith("colour: is not a parameter of this endpoint"), body
        checked.append((method, path))
    assert len(checked) >= 70


def test_every_list_endpoint_refuses_an_unknown_parameter_and_accepts_its_documented_ones(world, schema):
    owner = world.a
    lists = [
        (path, operation)
        for method, path, _url, operation in _operations(schema)
        if method == "get" and any(p["name"] == "cursor" for p in operation.get("parameters", ()))
    ]
    assert len(lists) >= 11, [path for path, _ in lists]
    for path, operation in lists:
        assert owner.get(f"{path}?consent=email").json()["code"] == "unknown_parameter", path
        # Every documented parameter and `format` passes the check (a value may still be
        # refused as invalid, by its own rule, but never as unknown).
        names = [p["name"] for p in operation["parameters"] if p["in"] == "query"] + ["format"]
        assert {"cursor", "page_size", "format"} <= set(names), path
        for name in names:
            response = owner.get(path, {name: "x"})
            assert response.status_code in (200, 400), (path, name, response.status_code)
            if response.status_code == 400:
                assert response.json()["code"] != "unknown_parameter", (path, name, response.json())
        valid = owner.get(path, {"format": "json", "page_size": "2"})
        assert valid.status_code == 200, (path, valid.content[:200])


def test_the_client_list_typo_that_used_to_answer_everyone_is_refused(world):
    response = world.a.get("/api/v1/clients/?consent=email")
    assert response.status_code == 400
    assert response.json()["fields"].keys() == {"consent"}
    assert world.a.get("/api/v1/clients/?email_consent=true&ordering=-created_at&page_size=5").status_code == 200


def test_analytics_and_action_endpoints_use_the_same_rule(world):
    owner = world.a
    period = "start=2026-01-01&end=2026-01-31"
    assert owner.get(f"/api/v1/analytics/dashboard/?{period}").status_code == 200
    assert owner.get(f"/api/v1/analytics/dashboard/?{period}&interval=day").json()["fields"].keys() == {"interval"}
    assert owner.get(f"/api/v1/analytics/revenue-timeseries/?{period}&interval=day").status_code == 200
    assert owner.get("/api/v1/clients/birthdays/?days_ahead=3&from=2026-01-01").status_code == 200
    assert owner.get("/api/v1/clients/birthdays/?days=3").json()["fields"].keys() == {"days"}
    assert owner.get("/api/v1/clients/duplicates/?page_size=3").json()["fields"].keys() == {"page_size"}
    assert owner.get("/api/v1/me/?tenant=x").json()["code"] == "unknown_parameter"
    # Unauthenticated callers are still told to authenticate first on tenant endpoints.
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/clients/?colour=blue").status_code == 401


def _callbacks(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _callbacks(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_every_api_route_of_the_url_router_has_its_parameters_checked():
    """No route under /api/v1/ escapes the rule: each is an operation whose query parameters
    are known (a route missing from the schema would never be checked)."""
    documented = {callback for callback, _method in documented_query_parameters()}
    routes = [(route, callback) for route, callback in _callbacks(get_resolver().url_patterns)]
    api = [(route, callback) for route, callback in routes if route.startswith("api/v1/")]
    assert len(api) >= 25
    missing = [route for route, callback in api if callback not in documented]
    assert not missing, missing
