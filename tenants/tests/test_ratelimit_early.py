"""The 429 decided before any database work (issue 28): a member over the tenant's limit is
refused in the middleware once this process has seen it resolved, with everything the 429
carries; outsiders are never counted against a tenant nor refused in its name."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from conftest import TenantWorld
from tenants.auth import ratelimit
from tenants.testing import api_client

pytestmark = pytest.mark.usefixtures("committed")


@pytest.fixture
def small_limits(settings):
    settings.TENANT_API_RATE = "3/60s"
    settings.TENANT_API_BURST = "100/1s"
    settings.TENANT_USER_API_RATE = "100/60s"
    ratelimit.forget_members()
    yield settings
    ratelimit.forget_members()


def _queries(client, path):
    with CaptureQueriesContext(connections["default"]) as captured:
        response = client.get(path)
    return response, [query["sql"] for query in captured.captured_queries]


def test_a_known_member_over_the_limit_is_refused_without_touching_the_database(small_limits):
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    for _ in range(3):
        assert client.get("/api/v1/clients/").status_code == 200
    refused, sql = _queries(client, "/api/v1/clients/")
    assert refused.status_code == 429
    assert sql == []  # no BEGIN, no membership lookup, no context
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Limit"] == "3" and refused["RateLimit-Remaining"] == "0"
    assert 1 <= int(refused["RateLimit-Reset"]) <= 60
    assert refused["RateLimit-Policy"] == "3;w=60, 100;w=1, 100;w=60"
    # The same refusal for a caller this process has not seen resolved goes the long way:
    # the membership is looked up first.
    ratelimit.forget_members()
    refused, sql = _queries(client, "/api/v1/clients/")
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert "Retry-After" in refused and refused["RateLimit-Remaining"] == "0"
    assert sql, "the first refusal of an unseen caller resolves its membership"
    refused, sql = _queries(client, "/api/v1/clients/")
    assert refused.status_code == 429 and sql == []  # and it is remembered again


def test_an_admitted_request_is_counted_once(small_limits):
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    remaining = [client.get("/api/v1/tags/")["RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]  # early (from the second on) or late, one count each


def test_an_outsider_naming_a_tenant_is_neither_counted_nor_refused_in_its_name(small_limits):
    world = TenantWorld()
    outsider = api_client(world.owner_b, tenant=world.tenant_a)  # a valid token, not a member of A
    member = api_client(world.owner_a, tenant=world.tenant_a)
    for _ in range(5):
        response = outsider.get("/api/v1/clients/")
        assert response.status_code == 403 and response.json()["code"] == "not_a_member"
    assert member.get("/api/v1/clients/")["RateLimit-Remaining"] == "2"  # none of the five counted
    for _ in range(3):
        member.get("/api/v1/clients/")
    assert member.get("/api/v1/clients/").status_code == 429
    # A over its limit: the outsider still learns nothing but that it is not a member.
    assert outsider.get("/api/v1/clients/").status_code == 403


def test_endpoints_outside_the_limits_are_not_refused_early(small_limits):
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    for _ in range(4):
        client.get("/api/v1/tags/")
    assert client.get("/api/v1/tags/").status_code == 429
    me = client.get("/api/v1/me/")
    assert me.status_code == 200 and "RateLimit-Limit" not in me


def test_the_limits_switched_off_refuse_nothing_early(small_limits):
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    for _ in range(4):
        client.get("/api/v1/tags/")
    assert client.get("/api/v1/tags/").status_code == 429
    small_limits.TENANT_RATE_LIMITS_ENABLED = False
    response = client.get("/api/v1/tags/")
    assert response.status_code == 200 and "RateLimit-Limit" not in response
