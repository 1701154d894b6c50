"""The peers' databases: created beside the benchmark's, filled with its data, dropped after.

Each peer gets `<benchmark database>_<peer>`; its tables come from its own migrations
(bench.peers.prepare, run under the peer's settings), its rows are copied from the benchmark
database (the same tenants, clients, tags and external ids), and it is served as the runtime
role (NOSUPERUSER NOBYPASSRLS), like this project, with SELECT granted on what it reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import psycopg
from django.conf import settings
from psycopg import sql

from bench.database import BenchDatabase, _admin, fetch_value
from bench.peers.models import COPIED_COLUMNS, SOURCE_TABLES

PEERS = {
    # name: settings module, with a tenant column (False: schema per tenant)
    "django_tenants": ("bench.peers.tenants_app.settings", False),
    "django_rls": ("bench.peers.rls_app.settings", True),
    "plain_drf": ("bench.peers.plain_app.settings", True),
}
DOMAIN_SUFFIX = "peers.localhost"
TABLE_ORDER = ["client", "tag", "client_tag", "client_external_id"]


def schema(tenant_id: str) -> str:
    return "t_" + str(tenant_id).replace("-", "")


def domain(tenant_id: str) -> str:
    return f"{str(tenant_id).replace('-', '')}.{DOMAIN_SUFFIX}"


@dataclass
class PeerDatabase:
    peer: str
    settings_module: str
    name: str
    owner_url: str
    runtime_url: str


def create(bench: BenchDatabase, peer: str, *, tenant_ids: list[str]) -> PeerDatabase:
    settings_module, tenant_column = PEERS[peer]
    name = f"{bench.name}_{peer}"
    owner = settings.DATABASES["owner"]
    db = PeerDatabase(
        peer=peer,
        settings_module=settings_module,
        name=name,
        owner_url=bench.url(user=owner["USER"], password=owner["PASSWORD"] or "", dbname=name),
        runtime_url=bench.url(user=settings.DATABASE_APP_ROLE, password=settings.DATABASE_APP_PASSWORD, dbname=name),
    )
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "BENCH_PEER_DATABASE_URL": db.owner_url,
            "PYTHONWARNINGS": "ignore",
        }
        done = subprocess.run(
            [sys.executable, "-m", "bench.peers.prepare", tenant_ids[0]],
            env=env,
            cwd=str(settings.BASE_DIR),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{peer}: preparing its database failed: {done.stderr[-2000:]}")
        with (
            psycopg.connect(**bench.owner_conninfo(bench.name), autocommit=True) as source,
            psycopg.connect(**bench.owner_conninfo(name), autocommit=True) as target,
        ):
            _copy_to_staging(source, target, tenant_ids)
            if tenant_column:
                _fill_one_schema(target)
            else:
                _fill_schemas(target, tenant_ids)
            target.execute("DROP SCHEMA bench_staging CASCADE")
            _grant(target, name, tenant_ids if not tenant_column else [])
            if peer == "django_rls":
                policies = fetch_value(
                    target.execute("SELECT count(*) FROM pg_policies WHERE policyname = 'tenant_isolation'")
                )
                if policies != len(TABLE_ORDER):
                    raise RuntimeError(f"django-rls made {policies} policies, expected {len(TABLE_ORDER)}")
            target.execute("VACUUM (ANALYZE)")
    except BaseException:
        drop(db)
        raise
    return db


def drop(db: PeerDatabase) -> None:
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name)))


def _copy_to_staging(source: psycopg.Connection, target: psycopg.Connection, tenant_ids: list[str]) -> None:
    target.execute("CREATE SCHEMA bench_staging")
    target.execute("CREATE TABLE bench_staging.tenant AS SELECT id, name FROM public.tenant WITH NO DATA")
    for table in TABLE_ORDER:
        target.execute(
            sql.SQL("CREATE TABLE bench_staging.{} (LIKE public.{}) ").format(
                sql.Identifier(table), sql.Identifier(table)
            )
            if _has_tenant_table(target)
            else sql.SQL("CREATE TABLE bench_staging.{} (tenant_id uuid, LIKE {}.{})").format(
                sql.Identifier(table), sql.Identifier(schema(tenant_ids[0])), sql.Identifier(table)
            )
        )
    copies = {"tenant": ("SELECT id, name FROM tenants_tenant WHERE id = ANY(%s)", ["id", "name"])}
    for table in TABLE_ORDER:
        columns = ["tenant_id", *COPIED_COLUMNS[table]]
        copies[table] = (f"SELECT {', '.join(columns)} FROM {SOURCE_TABLES[table]} WHERE tenant_id = ANY(%s)", columns)
    for table, (query, columns) in copies.items():
        select = psycopg.ClientCursor(source).mogrify(query, [tenant_ids])
        with (
            source.cursor().copy(f"COPY ({select}) TO STDOUT") as out,
            target.cursor().copy(
                sql.SQL("COPY bench_staging.{} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
            ) as into,
        ):
            for block in out:
                into.write(block)


def _has_tenant_table(conn: psycopg.Connection) -> bool:
    """The one-schema peers have a tenant column on every table."""
    return (
        conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = 'client' AND column_name = 'tenant_id'"
        ).fetchone()
        is not None
    )


def _fill_one_schema(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO public.tenant (id, name) SELECT id, name FROM bench_staging.tenant")
    for table in TABLE_ORDER:
        columns = sql.SQL(", ").join(map(sql.Identifier, ["tenant_id", *COPIED_COLUMNS[table]]))
        conn.execute(
            sql.SQL("INSERT INTO public.{} ({}) SELECT {} FROM bench_staging.{}").format(
                sql.Identifier(table), columns, columns, sql.Identifier(table)
            )
        )


def _fill_schemas(conn: psycopg.Connection, tenant_ids: list[str]) -> None:
    """A schema per tenant, cloned from the one django-tenants made (tables, indexes,
    constraints), each holding that tenant's rows; tenants and domains in the public schema."""
    template = schema(tenant_ids[0])
    conn.execute(
        "INSERT INTO public.tenant (id, name, schema_name) SELECT id, name, 't_' || replace(id::text, '-', '') "
        "FROM bench_staging.tenant ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name"
    )
    conn.execute(
        "INSERT INTO public.domain (domain, tenant_id, is_primary) SELECT replace(id::text, '-', '') || %s, id, true "
        "FROM bench_staging.tenant ON CONFLICT (domain) DO NOTHING",
        ["." + DOMAIN_SUFFIX],
    )
    for table in TABLE_ORDER:  # one tenant's rows at a time, below: not a scan of everyone's
        conn.execute(sql.SQL("CREATE INDEX ON bench_staging.{} (tenant_id)").format(sql.Identifier(table)))
    for tenant_id in tenant_ids:
        target = schema(tenant_id)
        with conn.transaction():
            if target != template:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(target)))
                for table in TABLE_ORDER:
                    conn.execute(
                        sql.SQL("CREATE TABLE {}.{} (LIKE {}.{} INCLUDING ALL)").format(
                            sql.Identifier(target),
                            sql.Identifier(table),
                            sql.Identifier(template),
                            sql.Identifier(table),
                        )
                    )
            for table in TABLE_ORDER:
                columns = sql.SQL(", ").join(map(sql.Identifier, COPIED_COLUMNS[table]))
                conn.execute(
                    sql.SQL("INSERT INTO {}.{} ({}) SELECT {} FROM bench_staging.{} WHERE tenant_id = %s").format(
                        sql.Identifier(target), sql.Identifier(table), columns, columns, sql.Identifier(table)
                    ),
                    [tenant_id],
                )


def _grant(conn: psycopg.Connection, dbname: str, schemas_of: list[str]) -> None:
    role = sql.Identifier(settings.DATABASE_APP_ROLE)
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), role))
    for name in ["public", *(schema(t) for t in schemas_of)]:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(name), role))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(sql.Identifier(name), role))
