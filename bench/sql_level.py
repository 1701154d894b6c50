"""Section 1: the isolation cost at the SQL level, one whole transaction per run.

Three ways to run the same statements:
- `rls_folded`: the runtime role, the context folded into the first statement's round trip
  (`SELECT set_config(...); <first statement>` through a ClientCursor, then nextset()),
  exactly what tenants.context's hook sends;
- `rls_separate`: the runtime role, the context as its own statement first (one more round trip);
- `bypass`: a BYPASSRLS role, no context, only the queries' explicit `tenant_id = ...`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from bench.database import fetch_value
from bench.timing import calibrate, interleaved, pair_differences_us, pair_ratios, summary


def context_prefix(tenant_id: str) -> str:
    # The one place that writes the settings is tenants.context: use its SQL, not a copy.
    from tenants.context import _set_config_sql

    return _set_config_sql((tenant_id, "", None), None)


def citus_context_prefix(tenant_id: str) -> str:
    from tenants.context import _set_config_sql

    return _set_config_sql((tenant_id, "", None), None, citus=True)


def connect(conninfo: dict[str, Any]) -> psycopg.Connection:
    # Django's backend: client-side binding cursors, a transaction per unit of work.
    return psycopg.connect(**conninfo, cursor_factory=psycopg.ClientCursor, autocommit=False)


def runner(conn: psycopg.Connection, statements: list[str], *, prefix: str | None, folded: bool) -> Callable[[], int]:
    """A callable running the statements as one transaction; returns the rows fetched."""

    def run() -> int:
        rows = 0
        with conn.cursor() as cursor:
            for index, statement in enumerate(statements):
                if index == 0 and prefix is not None:
                    if folded:
                        cursor.execute(prefix + "; " + statement)
                        cursor.nextset()
                    else:
                        cursor.execute(prefix)
                        cursor.execute(statement)
                else:
                    cursor.execute(statement)
                if cursor.description is not None:
                    rows += len(cursor.fetchall())
        conn.commit()
        return rows

    return run


def measure(
    statements: list[str],
    *,
    tenant_id: str,
    runtime: psycopg.Connection,
    bypass: psycopg.Connection | None,
    repeat: int,
) -> dict[str, Any]:
    prefix = context_prefix(tenant_id)
    fold = True
    if fetch_value(runtime.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")):
        # On Citus the hook sends SET LOCAL as its own statement: measure that as "folded" too.
        prefix, fold = citus_context_prefix(tenant_id), False
    runtime.rollback()
    variants = {
        "rls_folded": runner(runtime, statements, prefix=prefix, folded=fold),
        "rls_separate": runner(runtime, statements, prefix=prefix, folded=False),
        # The Citus form of the context (SET LOCAL ..., its own statement), on this server.
        "rls_set_local": runner(runtime, statements, prefix=citus_context_prefix(tenant_id), folded=False),
    }
    if bypass is not None:
        variants["bypass"] = runner(bypass, statements, prefix=None, folded=False)
        # The settings without the policies: splits the cost into set_config and RLS proper.
        variants["bypass_with_context"] = runner(bypass, statements, prefix=prefix, folded=fold)
    rows = {name: run() for name, run in variants.items()}
    inner = calibrate(variants["rls_folded"])
    times = interleaved(variants, repeat=repeat, inner=inner)
    result = {
        "inner_loop": inner,
        "rows": rows,
        "ms": {name: summary(values, 4) for name, values in times.items()},
    }
    if bypass is not None:
        result["rows_match"] = rows["bypass"] == rows["rls_folded"]
        result["ratio_folded"] = summary(pair_ratios(times["rls_folded"], times["bypass"]))
        result["ratio_separate"] = summary(pair_ratios(times["rls_separate"], times["bypass"]))
        result["added_us_folded"] = summary(pair_differences_us(times["rls_folded"], times["bypass"]), 1)
        result["added_us_separate"] = summary(pair_differences_us(times["rls_separate"], times["bypass"]), 1)
        result["added_us_set_local"] = summary(pair_differences_us(times["rls_set_local"], times["bypass"]), 1)
        result["added_us_set_config"] = summary(pair_differences_us(times["bypass_with_context"], times["bypass"]), 1)
        result["added_us_policies"] = summary(pair_differences_us(times["rls_folded"], times["bypass_with_context"]), 1)
    return result


def explain(conn: psycopg.Connection, statement: str, *, tenant_id: str) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) as the runtime role under the tenant context."""
    import re

    with conn.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
        if fetch_value(cursor):
            cursor.execute(citus_context_prefix(tenant_id))
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement)
        else:
            cursor.execute(context_prefix(tenant_id) + "; EXPLAIN (ANALYZE, BUFFERS) " + statement)
            cursor.nextset()
        plan = "\n".join(row[0] for row in cursor.fetchall())
    conn.rollback()
    indexes = sorted(
        set(re.findall(r"Index (?:Only )?Scan(?: Backward)? using (\w+)", plan))
        | set(re.findall(r"Bitmap Index Scan on (\w+)", plan))
    )
    seq_scans = sorted(set(re.findall(r"Seq Scan on (\w+)", plan)))
    execution = re.search(r"Execution Time: ([\d.]+) ms", plan)
    planning = re.search(r"Planning Time: ([\d.]+) ms", plan)
    return {
        "indexes": indexes,
        "seq_scans": seq_scans,
        "execution_ms": float(execution.group(1)) if execution else None,
        "planning_ms": float(planning.group(1)) if planning else None,
        "plan": plan,
    }


# The two forms of the tenant policy: the sub-select (one InitPlan per statement; what plain
# PostgreSQL gets) and the bare expression (what Citus accepts on distributed tables).
POLICY_FORMS = {
    "subselect": "(select nullif(current_setting('app.tenant_id', true), '')::uuid)",
    "bare": "nullif(current_setting('app.tenant_id', true), '')::uuid",
}


def _set_policy_form(owner: psycopg.Connection, tables: list[str], expression: str) -> None:
    for table in tables:
        owner.execute(
            f'ALTER POLICY tenant_isolation ON "{table}" USING (tenant_id = {expression}) WITH CHECK (tenant_id = {expression})'
        )


def policy_forms(
    owner: psycopg.Connection,
    runtime: psycopg.Connection,
    queries: dict[str, list[str]],
    *,
    tenant_id: str,
    repeat: int,
) -> dict[str, Any]:
    """Each hot query (one transaction, context folded) under each policy form.

    A policy cannot change inside a timed run, so the forms alternate round by round (the
    order rotating); the sub-select form is put back at the end. `owner` is autocommit.
    """
    import time

    if fetch_value(owner.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")):
        return {}  # Citus refuses the sub-select form on distributed tables: nothing to compare
    tables = [
        row[0]
        for row in owner.execute(
            "SELECT tablename FROM pg_policies WHERE schemaname = current_schema() AND policyname = 'tenant_isolation'"
        ).fetchall()
    ]
    prefix = context_prefix(tenant_id)
    runs = {name: runner(runtime, statements, prefix=prefix, folded=True) for name, statements in queries.items()}
    inner = {name: calibrate(run) for name, run in runs.items()}
    forms = list(POLICY_FORMS)
    times: dict[str, dict[str, list[float]]] = {name: {form: [] for form in forms} for name in runs}
    rows: dict[str, dict[str, int]] = {name: {} for name in runs}
    try:
        for round_index in range(repeat):
            shift = round_index % len(forms)
            for form in forms[shift:] + forms[:shift]:
                _set_policy_form(owner, tables, POLICY_FORMS[form])
                for name, run in runs.items():
                    rows[name][form] = run()  # also warms the form's plan
                    started = time.perf_counter()
                    for _ in range(inner[name]):
                        run()
                    times[name][form].append((time.perf_counter() - started) * 1000 / inner[name])
    finally:
        _set_policy_form(owner, tables, POLICY_FORMS["subselect"])
    return {
        name: {
            "ms": {form: summary(values, 4) for form, values in by_form.items()},
            "ratio_bare_to_subselect": summary(pair_ratios(by_form["bare"], by_form["subselect"])),
            "rows_match": len(set(rows[name].values())) == 1,
        }
        for name, by_form in times.items()
    }
