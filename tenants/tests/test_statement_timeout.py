"""Bounded statements (issue 28): statement_timeout travels with the tenant context, in the
same round trip, and a request that hits it answers 503 `statement_timeout`, never 500."""

from __future__ import annotations

import logging
import time

import psycopg
import pytest
from django.db import OperationalError, connection, connections, transaction

from clients.models import Client
from conftest import TenantWorld
from tenants.context import tenant_context
from tenants.testing import api_client, capture_statements

pytestmark = pytest.mark.usefixtures("committed")


def _server_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        return str(cursor.fetchone()[0])


def test_the_timeout_is_folded_into_the_context_statement(settings):
    settings.DATABASE_TASK_STATEMENT_TIMEOUT_MS = 4321
    world = TenantWorld()
    with capture_statements() as log, tenant_context(world.tenant_a.id, role="system"):
        assert _server_timeout() == "4321ms"
    statements = log.by_transaction()[0]
    assert len(statements) == 1, statements  # the settings and the query: one statement sent
    assert "set_config('statement_timeout', '4321', true)" in statements[0]
    # Transaction-local: gone with the commit.
    with transaction.atomic():
        assert _server_timeout() == "0"


def test_a_request_gets_the_request_timeout_in_its_one_context_statement(settings):
    settings.DATABASE_STATEMENT_TIMEOUT_MS = 1234
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    with capture_statements() as log:
        assert client.get("/api/v1/me/").status_code == 200
    transactions = [key for key in log.by_transaction() if key is not None]
    for index in transactions:
        assert log.set_config_count(index) == 1
        assert "set_config('statement_timeout', '1234', true)" in log.by_transaction()[index][0]


def test_a_statement_past_the_timeout_is_canceled():
    world = TenantWorld()
    started = time.monotonic()
    with pytest.raises(OperationalError) as raised:
        with tenant_context(world.tenant_a.id, role="system", statement_timeout_ms=100):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(5)")
    assert isinstance(raised.value.__cause__, psycopg.errors.QueryCanceled)
    assert time.monotonic() - started < 3
    # The connection is fine afterwards, and the next context has its own timeout again.
    with tenant_context(world.tenant_a.id, role="system", statement_timeout_ms=0):
        assert _server_timeout() == "0"


def test_a_request_past_the_timeout_answers_503_and_logs_the_tenant(settings, caplog):
    """A statement of the client list waits on a lock another session holds (what a runaway
    statement or a long migration does to a request): past the timeout, 503, not 500."""
    settings.DATABASE_STATEMENT_TIMEOUT_MS = 300
    world = TenantWorld()
    client = api_client(world.owner_a, tenant=world.tenant_a)
    table = Client._meta.db_table
    owner = connections["owner"]
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="common.errors"), transaction.atomic(using="owner"):
        with owner.cursor() as cursor:
            cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
        response = client.get("/api/v1/clients/")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "statement_timeout"
    assert time.monotonic() - started < 4
    assert any(str(world.tenant_a.id) in record.getMessage() for record in caplog.records), caplog.text
    # The lock is gone: the same client (same persistent connection) is served again.
    again = client.get("/api/v1/clients/")
    assert again.status_code == 200, again.content


def test_on_citus_the_timeout_is_a_set_local_that_reaches_the_shards():
    """Citus replays the transaction's SET LOCALs on its worker connections (the context
    statement turns on citus.propagate_set_commands = 'local'): each shard's statement is
    bounded by the same timeout. (The Citus suite, -m citus, runs the whole path.)"""
    from tenants.context import _set_config_sql

    sql = _set_config_sql(("t", "", None, "5000"), None, citus=True)
    assert sql.startswith("SET LOCAL citus.propagate_set_commands = 'local'")
    assert sql.endswith("SET LOCAL statement_timeout = 5000")
    with pytest.raises(Exception, match="invalid statement timeout"):
        _set_config_sql(("t", "", None, "1; DROP TABLE x"), None, citus=True)
