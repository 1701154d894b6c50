"""Faults: the database going away between requests, Redis down."""

from __future__ import annotations

import time

import pytest
from django.db import OperationalError, close_old_connections, connection, connections
from django.test import override_settings

from conftest import TenantWorld
from tenants.context import activate, tenant_context
from tenants.models import BackgroundJob
from tenants.testing import api_client

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def terminate_app_backends() -> int:
    """What a database restart does to the application: every connection it had is gone (the
    backends have exited, as they have by the time a restarted server takes requests)."""
    with activate(None), connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(pid) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE usename = %s AND datname = current_database() AND pid <> pg_backend_pid()",
            [connection.settings_dict["USER"]],
        )
        pids = cursor.fetchone()[0] or []
        for _ in range(500):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids])
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.01)
        return len(pids)


@pytest.mark.usefixtures("committed")
def test_requests_succeed_after_the_database_drops_every_connection():
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    assert client.get("/api/v1/me/").status_code == 200
    assert connection.connection is not None  # a persistent connection is open
    assert terminate_app_backends() >= 1
    # Between two requests Django's handler runs close_old_connections() (request_started);
    # the test client leaves that signal out, so the boundary is called here as it would be.
    close_old_connections()
    # The next request finds its connection dead (health check) and reconnects.
    response = client.get("/api/v1/me/")
    assert response.status_code == 200, response.content
    assert client.get("/api/v1/jobs/").status_code == 200


@pytest.mark.usefixtures("committed")
def test_the_health_check_sends_no_query_to_a_healthy_connection(monkeypatch):
    """tenants.db checks the socket first: SELECT 1 only when something arrived while idle."""
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    assert client.get("/api/v1/me/").status_code == 200
    from django.db.backends.postgresql.base import DatabaseWrapper as DjangoWrapper

    checks = []  # Django's own check (SELECT 1), which tenants.db's is_usable calls only when needed
    real_is_usable = DjangoWrapper.is_usable
    monkeypatch.setattr(DjangoWrapper, "is_usable", lambda self: checks.append(1) or real_is_usable(self))
    close_old_connections()  # a request boundary: the next use is health-checked
    backend = connection.connection.info.backend_pid
    assert client.get("/api/v1/me/").status_code == 200
    assert checks == [] and connection.connection.info.backend_pid == backend  # no query, same connection
    terminate_app_backends()
    close_old_connections()
    assert client.get("/api/v1/me/").status_code == 200
    assert checks == [1] and connection.connection.info.backend_pid != backend  # noticed, replaced


@pytest.mark.usefixtures("committed")
def test_a_transaction_cut_off_half_way_leaves_nothing_behind():
    world = TenantWorld()
    with pytest.raises(OperationalError):
        with tenant_context(world.tenant_a.id, role="system"):
            BackgroundJob.objects.create(tenant=world.tenant_a, kind="half-written")
            terminate_app_backends()
            BackgroundJob.objects.create(tenant=world.tenant_a, kind="half-written")
    connection.close()
    with tenant_context(world.tenant_a.id, role="system"):
        assert not BackgroundJob.objects.filter(kind="half-written").exists()


@pytest.mark.django_db
def test_redis_down_reads_still_served_and_jobs_refused_with_503():
    world = TenantWorld()
    from brandvx.celery import app

    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
    original = app.conf.broker_url
    app.conf.broker_url = DEAD_REDIS
    try:
        with override_settings(CACHES=caches):
            client = api_client(world.owner_a, tenant=world.tenant_a)
            assert client.get("/api/v1/me/").status_code == 200
            assert client.get("/api/v1/jobs/").status_code == 200
            # The failed-authentication limiter needs the cache; without it, it steps aside.
            assert api_client().get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer nonsense").status_code == 401
            health = api_client().get("/healthz")
            assert health.status_code == 503 and health.json()["checks"] == {"database": "ok", "broker": "unavailable"}
    finally:
        app.conf.broker_url = original
