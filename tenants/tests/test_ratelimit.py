"""Per-tenant API rate limits (issue 28): the real limiter on the real Redis, through the API."""

from __future__ import annotations

import time

import pytest
from limits.strategies import SlidingWindowCounterRateLimiter

from conftest import TenantWorld
from tenants.auth import ratelimit
from tenants.testing import api_client

pytestmark = pytest.mark.usefixtures("committed")

HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


@pytest.fixture
def small_limits(settings):
    settings.TENANT_API_RATE = "5/60s"
    settings.TENANT_API_BURST = "100/1s"
    settings.TENANT_USER_API_RATE = "100/60s"
    return settings


def test_parse_rate_reads_the_short_form_and_the_limits_notation():
    assert ratelimit.parse_rate("600/60s").amount == 600
    assert ratelimit.parse_rate("600/60s").get_expiry() == 60
    assert ratelimit.parse_rate("60/1s").get_expiry() == 1
    assert ratelimit.parse_rate("10/2m").get_expiry() == 120
    assert ratelimit.parse_rate("600/minute").get_expiry() == 60
    assert ratelimit.parse_rate("600 per 60 seconds").amount == 600
    with pytest.raises(ValueError):
        ratelimit.parse_rate("lots")


def test_every_answer_carries_the_headers_and_the_tenant_limit_answers_429(small_limits):
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    remaining = []
    for _ in range(5):
        response = client.get("/api/v1/clients/")
        assert response.status_code == 200, response.content
        assert all(name in response for name in HEADERS), dict(response.items())
        assert response["RateLimit-Limit"] == "5"
        assert 1 <= int(response["RateLimit-Reset"]) <= 60
        remaining.append(int(response["RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    assert response["RateLimit-Policy"] == "5;w=60, 100;w=1, 100;w=60"

    refused = client.get("/api/v1/clients/")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Remaining"] == "0" and refused["RateLimit-Limit"] == "5"
    # Error answers of a tenant endpoint carry them too (a 404 here).
    other = client.get("/api/v1/clients/00000000-0000-0000-0000-000000000000/")
    assert other.status_code == 429  # still over: every request is counted first

    # Another tenant is not affected: its own limit, its own count.
    other_tenant = api_client(world.owner_b, tenant=world.tenant_b).get("/api/v1/clients/")
    assert other_tenant.status_code == 200 and other_tenant["RateLimit-Remaining"] == "4"


def test_a_refused_request_changes_nothing(small_limits):
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    for _ in range(5):
        assert client.get("/api/v1/tags/").status_code == 200
    response = client.post("/api/v1/clients/", {"first_name": "Late", "last_name": "Comer"})
    assert response.status_code == 429
    small_limits.TENANT_API_RATE = "100/60s"  # a new limit, new counters: the client is admitted
    listing = client.get("/api/v1/clients/?search=Comer")
    assert listing.status_code == 200 and listing.json()["results"] == []


def test_the_user_limit_leaves_the_rest_of_the_tenant_its_share(settings):
    settings.TENANT_API_RATE = "100/60s"
    settings.TENANT_API_BURST = "100/1s"
    settings.TENANT_USER_API_RATE = "3/60s"
    world = TenantWorld()
    owner = api_client(world.owner_a, tenant=world.tenant_a)
    for _ in range(3):
        assert owner.get("/api/v1/tags/").status_code == 200
    refused = owner.get("/api/v1/tags/")
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    staff = api_client(world.staff_a, tenant=world.tenant_a).get("/api/v1/tags/")
    assert staff.status_code == 200
    assert staff["RateLimit-Remaining"] == "2"  # the staff member's own share is the tightest


def test_the_burst_limit_refuses_a_rush_within_the_sustained_rate(settings):
    settings.TENANT_API_RATE = "1000/60s"
    settings.TENANT_API_BURST = "3/2s"
    settings.TENANT_USER_API_RATE = "1000/60s"
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    statuses = [client.get("/api/v1/tags/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    time.sleep(4.1)  # two whole windows: the sliding counter has forgotten the rush
    assert client.get("/api/v1/tags/").status_code == 200


def test_webhooks_healthz_and_the_schema_are_outside_the_limits(settings):
    settings.TENANT_API_RATE = "1/60s"
    settings.TENANT_API_BURST = "1/1s"
    settings.TENANT_USER_API_RATE = "1/60s"
    world = TenantWorld()
    anonymous = api_client()
    for _ in range(3):
        health = anonymous.get("/healthz")
        assert health.status_code in (200, 503) and "RateLimit-Limit" not in health
        hook = anonymous.post("/api/v1/webhooks/square/", b"{}", content_type="application/json")
        assert hook.status_code != 429 and "RateLimit-Limit" not in hook, hook.content
        twilio = anonymous.post(f"/api/v1/webhooks/twilio/{world.tenant_a.id}/sms/", {"From": "+14155550100"})
        assert twilio.status_code != 429 and "RateLimit-Limit" not in twilio, twilio.content
    # The tenant itself is limited at the first request over the rate.
    client = api_client(world.owner_a, tenant=world.tenant_a)
    assert client.get("/api/v1/tags/").status_code == 200
    assert client.get("/api/v1/tags/").status_code == 429


def test_the_headers_agree_with_the_limits_library(small_limits):
    """The one-round-trip pipeline reads the library's own counters: its figures must be the
    strategy's (a library upgrade that changed its keys or scripts fails here)."""
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    client.get("/api/v1/tags/")
    response = client.get("/api/v1/tags/")
    strategy = SlidingWindowCounterRateLimiter(ratelimit.storage())
    stats = strategy.get_window_stats(ratelimit.parse_rate("5/60s"), "tenant", str(world.tenant_a.id))
    assert int(response["RateLimit-Remaining"]) == stats.remaining == 3


def test_the_limiter_costs_one_redis_round_trip(small_limits, monkeypatch):
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    client.get("/api/v1/tags/")  # warm: scripts loaded, connections open
    connection = ratelimit.storage().get_connection()
    sent = []
    pool = connection.connection_pool
    original = pool.get_connection

    def counting_get_connection(*args, **kwargs):
        conn = original(*args, **kwargs)
        real_send = conn.send_packed_command
        if not getattr(conn, "_counted", False):

            def send(command, *a, **k):
                sent.append(command)
                return real_send(command, *a, **k)

            conn.send_packed_command = send
            conn._counted = True
        return conn

    monkeypatch.setattr(pool, "get_connection", counting_get_connection)
    response = client.get("/api/v1/tags/")
    assert response.status_code == 200 and response["RateLimit-Remaining"] == "3"
    assert len(sent) == 1, f"{len(sent)} round trips to Redis"


def test_redis_unreachable_admits_the_request_without_headers(small_limits, monkeypatch):
    world = TenantWorld()
    monkeypatch.setattr(ratelimit, "_storage", None)
    small_limits.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = api_client(world.owner_a, tenant=world.tenant_a).get("/api/v1/tags/")
    finally:
        ratelimit._storage = None
    assert response.status_code == 200
    assert "RateLimit-Limit" not in response


def test_the_schema_documents_the_limits_on_tenant_operations_only():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    clients = schema["paths"]["/api/v1/clients/"]["get"]["responses"]
    assert "RateLimit-Remaining" in clients["200"]["headers"]
    assert "Retry-After" in clients["429"]["headers"]
    assert "rate_limited" in clients["429"]["description"]
    assert "statement_timeout" in clients["503"]["description"]
    assert "headers" not in clients["401"]
    hook = schema["paths"]["/api/v1/webhooks/square/"]["post"]["responses"]
    assert all("RateLimit-Limit" not in response.get("headers", {}) for response in hook.values())
    assert "RateLimit-Reset" in schema["components"]["headers"]
