"""The benchmark's own database and its BYPASSRLS baseline role: created, pointed at, dropped."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from psycopg import sql

from tenants.db import citus_cluster

ALIASES = ("default", "owner")


def _conninfo(*, dbname: str, user: str, password: str | None) -> dict[str, Any]:
    owner = settings.DATABASES["owner"]
    params = {"dbname": dbname, "user": user, "password": password or None}
    if owner.get("HOST"):
        params["host"] = owner["HOST"]
    if owner.get("PORT"):
        params["port"] = str(owner["PORT"])
    return {k: v for k, v in params.items() if v is not None}


@dataclass
class BenchDatabase:
    """A database created for one benchmark run, on the DATABASE_URL server."""

    name: str
    bypass_role: str
    bypass_password: str
    original_names: dict[str, str]
    bypass_available: bool = False
    bypass_error: str = ""

    # --- connection parameters -----------------------------------------------------------
    def owner_conninfo(self, dbname: str | None = None) -> dict[str, Any]:
        owner = settings.DATABASES["owner"]
        return _conninfo(dbname=dbname or self.name, user=owner["USER"], password=owner["PASSWORD"])

    def runtime_conninfo(self) -> dict[str, Any]:
        return _conninfo(dbname=self.name, user=settings.DATABASE_APP_ROLE, password=settings.DATABASE_APP_PASSWORD)

    def bypass_conninfo(self) -> dict[str, Any]:
        return _conninfo(dbname=self.name, user=self.bypass_role, password=self.bypass_password)

    def url(self, *, user: str, password: str, dbname: str | None = None) -> str:
        from urllib.parse import quote

        owner = settings.DATABASES["owner"]
        host = owner.get("HOST") or ""
        dbname = dbname or self.name
        if host.startswith("/"):
            return f"postgresql://{quote(user)}:{quote(password)}@/{dbname}?host={quote(host)}"
        port = f":{owner['PORT']}" if owner.get("PORT") else ""
        return f"postgresql://{quote(user)}:{quote(password)}@{host}{port}/{dbname}"

    def owner_url(self) -> str:
        owner = settings.DATABASES["owner"]
        return self.url(user=owner["USER"], password=owner["PASSWORD"] or "")

    def owner_is_superuser(self) -> bool:
        with psycopg.connect(**self.owner_conninfo(), autocommit=True) as conn:
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
            return bool(row and row[0])


def _admin_conninfo(dbname: str = "postgres") -> dict[str, Any]:
    owner = settings.DATABASES["owner"]
    return _conninfo(dbname=dbname, user=owner["USER"], password=owner["PASSWORD"])


def _admin(dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(**_admin_conninfo(dbname), autocommit=True)


def point_django_at_server(url: str) -> None:
    """Measure on another server (e.g. a Citus coordinator): its host, port and owner
    credentials for both aliases; the runtime role keeps its name and password."""
    import dj_database_url

    parsed = dj_database_url.parse(url)
    host, port = parsed.get("HOST") or "", parsed.get("PORT") or ""
    for alias in ALIASES:
        connections[alias].close()
        for settings_dict in (settings.DATABASES[alias], connections[alias].settings_dict):
            settings_dict["HOST"], settings_dict["PORT"] = host, port
    user, password = parsed.get("USER") or "", parsed.get("PASSWORD") or ""
    for settings_dict in (settings.DATABASES["owner"], connections["owner"].settings_dict):
        settings_dict["USER"], settings_dict["PASSWORD"] = user, password


def point_django_at(name: str) -> None:
    """Point both aliases at `name`, the way conftest's django_db_setup does."""
    for alias in ALIASES:
        connections[alias].close()
        settings.DATABASES[alias]["NAME"] = name
        connections[alias].settings_dict["NAME"] = name


def create(*, name: str | None = None, verbosity: int = 0) -> BenchDatabase:
    name = name or f"brandvx_bench_{os.getpid()}"
    bench = BenchDatabase(
        name=name,
        bypass_role=f"brandvx_bench_bypass_{os.getpid()}",
        bypass_password=secrets.token_urlsafe(18),
        original_names={alias: settings.DATABASES[alias]["NAME"] for alias in ALIASES},
    )
    # On a Citus coordinator the database is made on every node and joined up.
    citus_cluster.create_database(_admin_conninfo(), name)
    point_django_at(name)
    try:
        call_command("migrate", database="owner", verbosity=verbosity, interactive=False)
    except BaseException:
        drop(bench)
        raise
    _create_bypass_role(bench)
    return bench


def attach(name: str, *, keep: bool = False) -> BenchDatabase:
    """Reuse a database an earlier run kept (--keep): skips the minutes of loading. Another
    name than the benchmark's own (a copy made with `createdb -T brandvx_bench_...`) only
    with `keep`: a reused database is dropped after the run otherwise."""
    if not name.startswith("brandvx_bench_") and not keep:
        raise ValueError(
            "only a database made by the benchmark (brandvx_bench_...) can be reused without --keep: "
            "it is dropped after the run"
        )
    bench = BenchDatabase(
        name=name,
        bypass_role=f"brandvx_bench_bypass_{os.getpid()}",
        bypass_password=secrets.token_urlsafe(18),
        original_names={alias: settings.DATABASES[alias]["NAME"] for alias in ALIASES},
    )
    with _admin() as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            raise ValueError(f"database {name} does not exist")
    point_django_at(name)
    _create_bypass_role(bench)
    return bench


def _create_bypass_role(bench: BenchDatabase) -> None:
    """The baseline: a login role that skips RLS and may only read. Exists for one run."""
    role = sql.Identifier(bench.bypass_role)
    try:
        with _admin() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS PASSWORD {}").format(
                    role, sql.Literal(bench.bypass_password)
                )
            )
        with _admin(bench.name) as conn:
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(bench.name), role))
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
            conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))
        bench.bypass_available = True
    except psycopg.Error as exc:
        # Only a superuser may create a BYPASSRLS role: without one there is no baseline.
        bench.bypass_error = f"cannot create the BYPASSRLS baseline role: {exc.diag.message_primary or exc}"


def drop(bench: BenchDatabase, *, keep: bool = False) -> None:
    for conn in connections.all():
        conn.close()
    role = sql.Identifier(bench.bypass_role)
    if bench.bypass_available:
        try:
            with _admin(bench.name) as admin:
                admin.execute(sql.SQL("DROP OWNED BY {}").format(role))
        except psycopg.Error:
            pass
    if not keep:
        citus_cluster.drop_database(_admin_conninfo(), bench.name)
    if bench.bypass_available:
        with _admin() as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
    for alias, original in bench.original_names.items():
        settings.DATABASES[alias]["NAME"] = original
        connections[alias].settings_dict["NAME"] = original


def fetch_value(cursor: psycopg.Cursor[Any]) -> Any:
    """The first column of the one row a statement returned (a count, a setting)."""
    row = cursor.fetchone()
    if row is None:
        raise LookupError("the statement returned no row")
    return row[0]
