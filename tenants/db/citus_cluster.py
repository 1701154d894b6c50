"""Databases on a Citus cluster, for the test suite and the benchmark (never the application).

On plain PostgreSQL a database is one CREATE DATABASE. On a Citus coordinator it also has to
exist on every worker, each with the citus extension, and the new database's own metadata
must list the coordinator and the workers (pg_dist_node is per database). The workers are
read from the maintenance database's pg_dist_node, which cluster.sh (or the operator) filled.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

# psycopg.connect() keyword arguments (host, port, user, password, dbname, ...).
ConnectArgs = dict[str, Any]


def _has_citus(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')").fetchone()
    return bool(row and row[0])


def _nodes(conn: psycopg.Connection[Any]) -> tuple[tuple[str, int] | None, list[tuple[str, int]]]:
    rows = conn.execute(
        "SELECT groupid, nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary' ORDER BY nodeid"
    ).fetchall()
    coordinator = next(((host, port) for group, host, port in rows if group == 0), None)
    return coordinator, [(host, port) for group, host, port in rows if group != 0]


def workers(maintenance: ConnectArgs) -> list[tuple[str, int]]:
    """The cluster's workers (host, port) as the maintenance database lists them; [] when not Citus."""
    with psycopg.connect(**maintenance, autocommit=True) as conn:
        return _nodes(conn)[1] if _has_citus(conn) else []


def _on(maintenance: ConnectArgs, host: str, port: int, dbname: str) -> ConnectArgs:
    return {**maintenance, "host": host, "port": str(port), "dbname": dbname}


def create_database(maintenance: ConnectArgs, name: str) -> None:
    """CREATE DATABASE `name` (dropping any leftover); on Citus on every node, joined up."""
    ident = sql.Identifier(name)
    with psycopg.connect(**maintenance, autocommit=True) as conn:
        citus = _has_citus(conn)
        coordinator, worker_nodes = _nodes(conn) if citus else (None, [])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    if not citus:
        return
    for host, port in worker_nodes:
        with psycopg.connect(**_on(maintenance, host, port, "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        with psycopg.connect(**_on(maintenance, host, port, name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION citus")
    with psycopg.connect(**{**maintenance, "dbname": name}, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION citus")
        if coordinator is not None:
            conn.execute("SELECT citus_set_coordinator_host(%s, %s)", coordinator)
        for host, port in worker_nodes:
            conn.execute("SELECT citus_add_node(%s, %s)", (host, port))


def drop_database(maintenance: ConnectArgs, name: str) -> None:
    ident = sql.Identifier(name)
    with psycopg.connect(**maintenance, autocommit=True) as conn:
        worker_nodes = _nodes(conn)[1] if _has_citus(conn) else []
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
    for host, port in worker_nodes:
        with psycopg.connect(**_on(maintenance, host, port, "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
