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

import psycopg

from bench.timing import calibrate, interleaved, pair_differences_us, pair_ratios, summary


def context_prefix(tenant_id: str, role: str = "owner_admin") -> str:
    # The one place that writes the settings is tenants.context: use its SQL, not a copy.
    from tenants.context import _set_config_sql

    return _set_config_sql((tenant_id, "", role, None), None)


def connect(conninfo: dict) -> psycopg.Connection:
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
    statements: list[str], *, tenant_id: str, runtime: psycopg.Connection, bypass: psycopg.Connection | None, repeat: int
) -> dict:
    prefix = context_prefix(tenant_id)
    variants = {
        "rls_folded": runner(runtime, statements, prefix=prefix, folded=True),
        "rls_separate": runner(runtime, statements, prefix=prefix, folded=False),
    }
    if bypass is not None:
        variants["bypass"] = runner(bypass, statements, prefix=None, folded=False)
        # The settings without the policies: splits the cost into set_config and RLS proper.
        variants["bypass_with_context"] = runner(bypass, statements, prefix=prefix, folded=True)
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
        result["added_us_set_config"] = summary(pair_differences_us(times["bypass_with_context"], times["bypass"]), 1)
        result["added_us_policies"] = summary(pair_differences_us(times["rls_folded"], times["bypass_with_context"]), 1)
    return result


def explain(conn: psycopg.Connection, statement: str, *, tenant_id: str) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) as the runtime role under the tenant context."""
    import re

    with conn.cursor() as cursor:
        cursor.execute(context_prefix(tenant_id) + "; EXPLAIN (ANALYZE, BUFFERS) " + statement)
        cursor.nextset()
        plan = "\n".join(row[0] for row in cursor.fetchall())
    conn.rollback()
    indexes = sorted(set(re.findall(r"Index (?:Only )?Scan(?: Backward)? using (\w+)", plan))
                     | set(re.findall(r"Bitmap Index Scan on (\w+)", plan)))
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
