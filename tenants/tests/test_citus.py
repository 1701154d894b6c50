"""On a real Citus cluster (the session's database is a Citus coordinator): the schema is
distributed as tenants.db.sharding says, RLS holds on every worker's shards, the hot requests
are single-shard router queries, and the API works end to end.

Run by .ci/run as `DATABASE_URL=$CITUS_URL scripts/test -m citus`; skipped elsewhere.
"""

from __future__ import annotations

import datetime
import io
import re

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from analytics.aggregates import aggregate_tables
from conftest import build_full_world
from tenants.context import _set_config_sql, tenant_context
from tenants.db.sharding import REFERENCE_TABLES, is_citus

pytestmark = [pytest.mark.citus, pytest.mark.usefixtures("committed")]


@pytest.fixture(autouse=True)
def _citus_only(committed):
    if not is_citus(connections["owner"]):
        pytest.skip("the database is not a Citus coordinator (set DATABASE_URL=$CITUS_URL and run -m citus)")


def _placement(cursor) -> dict[str, tuple[str, int]]:
    cursor.execute("SELECT table_name::text, citus_table_type, colocation_id FROM citus_tables")
    return {name: (kind, colocation) for name, kind, colocation in cursor.fetchall()}


def _tenant_tables(cursor) -> list[str]:
    from tenants.db.sharding import tenant_tables

    return tenant_tables(cursor)


def test_migrate_distributes_every_tenant_table_colocated_and_is_safe_to_repeat():
    with connections["owner"].cursor() as cursor:
        tables = _tenant_tables(cursor)
        before = _placement(cursor)
    assert len(tables) >= 17
    assert {before[t][0] for t in tables} == {"distributed"}, before
    assert len({before[t][1] for t in tables}) == 1, "tenant tables must be co-located"
    for table in REFERENCE_TABLES:
        assert before[table][0] == "reference"
    call_command("migrate", verbosity=0, interactive=False)
    with connections["owner"].cursor() as cursor:
        assert _placement(cursor) == before


def _runtime_conninfo(host: str, port: int) -> dict:
    return {
        "host": host,
        "port": str(port),
        "dbname": settings.DATABASES["owner"]["NAME"],
        "user": settings.DATABASE_APP_ROLE,
        "password": settings.DATABASE_APP_PASSWORD,
        # Workers hide shards from other applications' catalog queries; show them.
        "options": "-c citus.show_shards_for_app_name_prefixes=*",
    }


def test_every_shard_on_every_worker_has_forced_rls_and_fails_closed():
    world = build_full_world()
    with connections["owner"].cursor() as cursor:
        tables = _tenant_tables(cursor)
        cursor.execute(
            "SELECT table_name::text, shard_name, nodename, nodeport FROM citus_shards WHERE citus_table_type = 'distributed'"
        )
        shards = cursor.fetchall()
    nodes = {(host, port) for _, _, host, port in shards}
    assert len(nodes) >= 2, f"the shards should be spread over the workers: {nodes}"
    checked_with_rows = set()
    by_node: dict = {}
    for table, shard, host, port in shards:
        if table in tables:
            by_node.setdefault((host, port), []).append((table, shard))
    for (host, port), node_shards in by_node.items():
        with psycopg.connect(**_runtime_conninfo(host, port), autocommit=True) as conn:
            for table, shard in node_shards:
                enabled, forced = conn.execute(
                    "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass", [shard]
                ).fetchone()
                assert enabled and forced, f"{shard} on {host}:{port}"
                # No context: zero rows, and no write.
                assert conn.execute(f'SELECT count(*) FROM "{shard}"').fetchone()[0] == 0, shard
                id_type = conn.execute(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
                    "AND attname = 'id'",
                    [shard],
                ).fetchone()[0]
                new_id = "gen_random_uuid()" if id_type == "uuid" else "1"
                with pytest.raises(psycopg.Error, match="row-level security|permission denied|violates"):
                    conn.execute(f'INSERT INTO "{shard}" (tenant_id, id) VALUES (%s, {new_id})', [world.tenant_a.id])
                # With tenant A's context (SET LOCAL on the worker): only A's rows.
                with conn.transaction():
                    conn.execute(f"SET LOCAL app.tenant_id = '{world.tenant_a.id}'")
                    seen = conn.execute(f'SELECT DISTINCT tenant_id FROM "{shard}"').fetchall()
                assert all(row[0] == world.tenant_a.id for row in seen), shard
                if seen:
                    checked_with_rows.add(table)
    # Every table held A's rows on some shard, but the insight aggregates (nothing keeps them on
    # Citus: the insights read the rows there) and at most two others.
    expected = set(tables) - set(aggregate_tables())
    assert len(checked_with_rows & expected) >= len(expected) - 2, f"too few shards held A's rows: {checked_with_rows}"


HOT = [
    ("clients_client", "SELECT id FROM clients_client WHERE tenant_id = %s ORDER BY created_at DESC, id DESC LIMIT 50"),
    (
        "birthdays",
        "SELECT id FROM clients_client WHERE tenant_id = %s AND (birthday_month * 100 + birthday_day) BETWEEN 101 AND 1231",
    ),
    ("dashboard", "SELECT count(*), sum(total_amount) FROM analytics_transaction WHERE tenant_id = %s"),
    (
        "tags",
        "SELECT t.id, count(ct.id) FROM clients_tag t LEFT JOIN clients_clienttag ct"
        " ON ct.tag_id = t.id AND ct.tenant_id = t.tenant_id WHERE t.tenant_id = %s GROUP BY t.id",
    ),
    (
        "membership",
        "SELECT m.id FROM tenants_membership m JOIN tenants_tenant t ON t.id = m.tenant_id"
        " JOIN tenants_user u ON u.id = m.user_id WHERE m.tenant_id = %s",
    ),
]


@pytest.mark.parametrize(("name", "statement"), HOT, ids=[name for name, _ in HOT])
def test_hot_queries_are_single_shard_router_queries(name, statement):
    world = build_full_world()
    with tenant_context(world.tenant_a.id, role="owner_admin"), connections["default"].cursor() as cursor:
        cursor.execute("EXPLAIN " + statement, [world.tenant_a.id])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert re.search(r"Task Count: 1\b", plan), plan


def test_the_client_list_statement_with_its_tags_and_ids_is_a_single_shard_router_query():
    """The list's own statement (selectors.client_rows: tags and external ids aggregated in
    correlated subqueries) as the ORM writes it, not a hand-written stand-in."""
    from clients import selectors
    from clients.models import Client

    world = build_full_world()
    tenant_id = world.tenant_a.id
    with tenant_context(tenant_id, role="owner_admin"), connections["default"].cursor() as cursor:
        rows = selectors.client_rows(Client.objects.filter(tenant_id=tenant_id), tenant=world.tenant_a)
        sql, params = rows.order_by("-created_at", "-id")[:51].query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert re.search(r"Task Count: 1\b", plan), plan


def test_the_context_statement_is_set_local_on_citus():
    assert _set_config_sql(("t", "", None), None, citus=True).startswith(
        "SET LOCAL citus.propagate_set_commands = 'local'"
    )
    assert connections["default"].ensure_connection() is None and connections["default"]._brandvx_citus


def test_api_smoke_on_citus():
    world = build_full_world()
    a, b = world.a, world.b
    created = a.post(
        "/api/v1/clients/",
        {"first_name": "Cit", "last_name": "Us", "email": "citus@example.com", "birthday_month": 5, "birthday_day": 3},
        format="json",
    )
    assert created.status_code == 201, created.content
    client_id = created.json()["id"]
    listed = a.get("/api/v1/clients/")
    assert listed.status_code == 200 and client_id in {c["id"] for c in listed.json()["results"]}
    assert b.get(f"/api/v1/clients/{client_id}/").status_code == 404
    assert client_id not in {c["id"] for c in b.get("/api/v1/clients/").json()["results"]}
    tagged = a.post(f"/api/v1/clients/{client_id}/tags/", {"name": "vip"}, format="json")
    assert tagged.status_code in (200, 201), tagged.content
    tags = a.get("/api/v1/tags/")
    assert tags.status_code == 200, tags.content
    birthdays = a.get("/api/v1/clients/birthdays/", {"days_ahead": 7, "from": "2026-05-01"})
    assert birthdays.status_code == 200, birthdays.content
    csv = io.BytesIO(b"first_name,last_name,email\nAda,Lovelace,ada@example.com\nAlan,Turing,alan@example.com\n")
    csv.name = "clients.csv"
    imported = a.post("/api/v1/clients/import/", {"file": csv}, format="multipart")
    assert imported.status_code in (200, 201, 202), imported.content
    today = datetime.date.today()
    dashboard = a.get(
        "/api/v1/analytics/dashboard/",
        {"start": (today - datetime.timedelta(days=90)).isoformat(), "end": today.isoformat()},
    )
    assert dashboard.status_code == 200, dashboard.content


def test_a_tenant_table_added_after_distribution_is_distributed_by_its_migration():
    """What a later migration of a new tenant model does: tenant_keys, then enable_rls."""
    from tenants.db.rls import enable_rls
    from tenants.db.sharding import tenant_keys

    owner = connections["owner"]
    with owner.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE analytics_refund_probe (tenant_id uuid NOT NULL REFERENCES tenants_tenant(id)"
            " DEFERRABLE INITIALLY DEFERRED, id uuid PRIMARY KEY, transaction_id uuid NOT NULL)"
        )
    try:
        for operation in (
            tenant_keys("analytics_refund_probe", foreign_keys={"transaction_id": "analytics_transaction"}),
            enable_rls("analytics_refund_probe"),
        ):
            with owner.schema_editor() as editor:
                operation._run_sql(editor, operation.sql)
        with owner.cursor() as cursor:
            placement = _placement(cursor)
            assert placement["analytics_refund_probe"] == placement["analytics_transaction"]
            cursor.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'analytics_refund_probe'::regclass"
            )
            definitions = {row[0] for row in cursor.fetchall()}
            assert "PRIMARY KEY (tenant_id, id)" in definitions
            assert any(
                "(tenant_id, transaction_id) REFERENCES analytics_transaction(tenant_id, id)" in d for d in definitions
            )
            cursor.execute("SELECT relforcerowsecurity FROM pg_class WHERE oid = 'analytics_refund_probe'::regclass")
            assert cursor.fetchone()[0]
    finally:
        with owner.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS analytics_refund_probe")


def _explain_all(tenant_id, statements: list[str]) -> list[str]:
    """The plans of `statements` (SQL as run, parameters in it) in the tenant's context."""
    plans = []
    with tenant_context(tenant_id, role="owner_admin"), connections["default"].cursor() as cursor:
        for statement in statements:
            cursor.execute("EXPLAIN " + statement)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def _hot_request_statements(api, tenant_id) -> dict[str, list[str]]:
    """The SELECTs each hot request runs on tenant data, as it ran them."""
    from django.test.utils import CaptureQueriesContext

    today = datetime.date.today()
    requests = {
        "client_list": ("/api/v1/clients/", {}),
        "client_search": ("/api/v1/clients/", {"search": "amy"}),
        "birthdays": ("/api/v1/clients/birthdays/", {"days_ahead": 30, "from": today.isoformat()}),
        "dashboard": (
            "/api/v1/analytics/dashboard/",
            {"start": (today - datetime.timedelta(days=365)).isoformat(), "end": today.isoformat()},
        ),
    }
    # The membership lookup (tenants.context.resolution) is by user, across the user's tenants: a
    # multi-shard statement by design, the same for every request; the views' statements are
    # what this checks.
    from tenants.context.resolution import _memberships_statement

    lookup = _memberships_statement()[0].split(" WHERE ")[0]
    statements = {}
    for name, (path, params) in requests.items():
        with CaptureQueriesContext(connections["default"]) as queries:
            response = api.get(path, params)
        assert response.status_code == 200, (name, response.content)
        statements[name] = [
            q["sql"]
            for q in queries.captured_queries
            if q["sql"].lstrip().upper().startswith(("SELECT", "WITH")) and not q["sql"].startswith(lookup)
        ]
        assert statements[name], name
    return statements


def test_every_statement_of_the_hot_requests_is_a_single_shard_router_query():
    """Not a hand-written stand-in: every SELECT the client list, search, birthdays and
    dashboard views send (captured as sent), EXPLAINed: one task, for both tenants."""
    world = build_full_world()
    created = world.a.post("/api/v1/clients/", {"first_name": "Amy", "email": "amy@big.example"}, format="json")
    assert created.status_code == 201, created.content
    for api, tenant in ((world.a, world.tenant_a), (world.b, world.tenant_b)):
        distributed = 0
        for name, statements in _hot_request_statements(api, tenant.id).items():
            for statement, plan in zip(statements, _explain_all(tenant.id, statements), strict=True):
                if "Citus" in plan:  # statements on reference tables only are not distributed
                    distributed += 1
                    assert re.search(r"Task Count: 1\b", plan), (tenant.name, name, statement, plan)
        assert distributed >= 4, distributed


def test_isolate_tenant_gives_a_big_tenant_shards_of_its_own_and_keeps_it_isolated():
    """`manage.py isolate_tenant` on the real cluster: the tenant's hash value gets a shard of
    its own (every co-located tenant table splits with it, CASCADE); its data and the other
    tenant's are where they were, the API still answers each tenant only its own rows, every
    statement of the hot requests is still a single-shard router query, and a second run
    changes nothing. (No table has a stored generated column: Citus 13.2's shard split cannot
    copy one; the birthday window is read through the plain month and day columns.)"""
    from django.core.management.base import CommandError

    from tenants.db.sharding import split_blockers, tenant_shard

    world = build_full_world()
    created = world.a.post(
        "/api/v1/clients/",
        {"first_name": "Amy", "email": "amy@big.example", "birthday_month": 3, "birthday_day": 14},
        format="json",
    )
    assert created.status_code == 201, created.content
    client_id = created.json()["id"]
    assert split_blockers(connections["owner"]) == []
    lists_before = {key: api.get("/api/v1/clients/").json()["results"] for key, api in (("a", world.a), ("b", world.b))}
    before = tenant_shard(connections["owner"], str(world.tenant_a.id))
    assert not before["isolated"]

    out = io.StringIO()
    call_command("isolate_tenant", str(world.tenant_a.id), stdout=out)
    after = tenant_shard(connections["owner"], str(world.tenant_a.id))
    assert after["isolated"] and after["shard_id"] != before["shard_id"], (before, after)
    assert f"tenant {world.tenant_a.id} isolated" in out.getvalue()
    # Tenant B stays in a shard it shares (none of its own), and both still read what they had.
    assert not tenant_shard(connections["owner"], str(world.tenant_b.id))["isolated"]
    for key, api in (("a", world.a), ("b", world.b)):
        assert api.get("/api/v1/clients/").json()["results"] == lists_before[key]
    assert world.a.get(f"/api/v1/clients/{client_id}/").status_code == 200
    assert world.b.get(f"/api/v1/clients/{client_id}/").status_code == 404
    birthdays = world.a.get("/api/v1/clients/birthdays/", {"days_ahead": 366}).json()
    assert client_id in [entry["client"]["id"] for entry in birthdays["results"]], birthdays
    for api, tenant in ((world.a, world.tenant_a), (world.b, world.tenant_b)):
        for name, statements in _hot_request_statements(api, tenant.id).items():
            for statement, plan in zip(statements, _explain_all(tenant.id, statements), strict=True):
                if "Citus" in plan:
                    assert re.search(r"Task Count: 1\b", plan), (tenant.name, name, statement, plan)
    # Idempotent: already alone in its shard.
    again = io.StringIO()
    call_command("isolate_tenant", str(world.tenant_a.id), stdout=again)
    assert "already isolated" in again.getvalue()
    assert tenant_shard(connections["owner"], str(world.tenant_a.id)) == after
    with pytest.raises(CommandError, match="no tenant"):
        call_command("isolate_tenant", "00000000-0000-0000-0000-000000000001")


def test_a_csv_import_writes_set_based_on_citus():
    """COPY into a local temporary table on the coordinator, then INSERT ... SELECT and
    UPDATE ... FROM into the distributed tables, under RLS as the runtime role."""
    from clients import services
    from clients.models import Client, ClientExternalId, ClientTag, ConsentEvent
    from clients.tasks import client_import_csv_task
    from tenants.models import BackgroundJob, ChangeRecord

    world = build_full_world()
    tenant = world.tenant_a

    def run(content: str) -> BackgroundJob:
        with tenant_context(tenant.id, role="owner_admin"):
            job = services.client_import_csv_start(tenant=tenant, data=content.encode(), filename="c.csv")
        client_import_csv_task.run(str(tenant.id), str(job.id))
        with tenant_context(tenant.id, role="system"):
            return BackgroundJob.objects.get(id=job.id)

    rows = "".join(f"C-{n},Cit{n},cit{n}@citus.example,VIP,yes\n" for n in range(30))
    job = run("id,first name,email,tags,email consent\n" + rows + "C-0,Again,cit0@citus.example,,\n")
    assert job.status == "succeeded" and job.counts["created"] == 30 and job.counts["updated"] == 1, job.errors
    job = run("id,last name\nC-1,Updated\nC-2,\n")  # an UPDATE ... FROM the staging table
    assert job.counts == {"created": 0, "updated": 1, "unchanged": 1, "skipped": 0, "failed": 0}, job.counts
    with tenant_context(tenant.id, role="system"):
        assert Client.objects.filter(email__endswith="@citus.example").count() == 30
        assert Client.objects.get(email="cit1@citus.example").last_name == "Updated"
        assert Client.objects.get(email="cit0@citus.example").first_name == "Again"
        assert ClientExternalId.objects.filter(external_id__startswith="C-").count() == 30
        assert ClientTag.objects.filter(tag__name="VIP").count() == 30
        assert ConsentEvent.objects.filter(origin="csv_import").count() == 30
        assert ChangeRecord.objects.filter(actor_label="csv import").count() == 32
    with tenant_context(world.tenant_b.id, role="system"):
        assert not Client.objects.filter(email__endswith="@citus.example").exists()
