"""Set-based writes for bulk work (imports): rows staged with `COPY` into a temporary table,
then one `INSERT ... SELECT` or `UPDATE ... FROM` into the real table.

Why a temporary table: PostgreSQL refuses `COPY FROM` into a table with row level security
for a role subject to it (the runtime role), and Citus refuses COPY into a distributed table
under RLS as well. A temporary table has no policy (it is private to the session and dropped
at commit: ON COMMIT DROP), COPY into it is allowed, and the one statement that moves its rows
into the real table goes through the table's RLS policy like any INSERT or UPDATE: a row of
another tenant fails its WITH CHECK. On Citus the temporary table is a local table on the
coordinator; `INSERT INTO distributed SELECT ... FROM local` is pulled to the coordinator and
routed to the tenant's shard, and `UPDATE distributed ... FROM local` ships the local rows to
that shard as an intermediate result.

Call these inside a transaction (a tenant context): the staging table lives until its commit.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model
from psycopg import sql

_names = itertools.count()


def _text(query: sql.Composable) -> str:
    """The statement as text: what Django's cursor runs and logs."""
    return query.as_string(connection.connection)


def _stage(cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], extra: str = "") -> str:
    """A temporary table with `columns` of `table` (their types), filled by COPY; its name."""
    if not connection.in_atomic_block:
        raise RuntimeError("staging needs a transaction: the temporary table is dropped at its commit")
    name = f"bulk_stage_{next(_names)}"
    cursor.execute(
        _text(
            sql.SQL(
                "CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA"
            ).format(
                stage=sql.Identifier(name),
                columns=sql.SQL(", ").join(sql.Identifier(column) for column in columns),
                table=sql.Identifier(table),
            )
        )
    )
    if extra:
        cursor.execute(_text(sql.SQL("ALTER TABLE {stage} ADD COLUMN " + extra).format(stage=sql.Identifier(name))))
    all_columns = [*columns, *([extra.split()[0]] if extra else [])]
    with cursor.copy(
        _text(
            sql.SQL("COPY {stage} ({columns}) FROM STDIN").format(
                stage=sql.Identifier(name), columns=sql.SQL(", ").join(sql.Identifier(c) for c in all_columns)
            )
        )
    ) as copy:
        for row in rows:
            copy.write_row(row)
    return name


def copy_insert(
    model: type[Model], columns: Sequence[str], rows: Sequence[Sequence[Any]], *, conflict_ignore: bool = False
) -> int:
    """Insert `rows` (values in the order of `columns`, column names) into `model`'s table:
    COPY into a staging table, then one INSERT ... SELECT (ON CONFLICT DO NOTHING when
    `conflict_ignore`). Returns the rows inserted."""
    if not rows:
        return 0
    table = model._meta.db_table
    if _on_citus():
        return _insert_values(table, columns, rows, conflict_ignore=conflict_ignore)
    with connection.cursor() as cursor:
        stage = _stage(cursor, table, columns, rows)
        column_list = sql.SQL(", ").join(sql.Identifier(column) for column in columns)
        cursor.execute(
            _text(
                sql.SQL("INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage}{conflict}").format(
                    table=sql.Identifier(table),
                    columns=column_list,
                    stage=sql.Identifier(stage),
                    conflict=sql.SQL(" ON CONFLICT DO NOTHING" if conflict_ignore else ""),
                )
            )
        )
        return int(cursor.rowcount)


def _on_citus() -> bool:
    from tenants.db.sharding import is_citus

    return is_citus(connection)


# PostgreSQL's limit on a statement's parameters is 65,535.
_MAX_PARAMETERS = 60_000


def _insert_values(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, conflict_ignore: bool) -> int:
    """Citus: multi-row INSERT ... VALUES (a router statement to the tenant's shard). An
    INSERT ... SELECT from a coordinator-local table is pulled to the coordinator and sent to
    the shards with COPY, which Citus refuses under RLS ("COPY FROM not supported with
    row-level security")."""
    per_statement = max(1, _MAX_PARAMETERS // len(columns))
    row_sql = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            query = sql.SQL("INSERT INTO {table} ({columns}) VALUES {rows}{conflict}").format(
                table=sql.Identifier(table),
                columns=sql.SQL(", ").join(sql.Identifier(column) for column in columns),
                rows=sql.SQL(", ").join([row_sql] * len(chunk)),
                conflict=sql.SQL(" ON CONFLICT DO NOTHING" if conflict_ignore else ""),
            )
            cursor.execute(_text(query), [value for row in chunk for value in row])
            inserted += int(cursor.rowcount)
    return inserted


def copy_update(
    model: type[Model],
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[tuple[Sequence[Any], Sequence[str]]],
    *,
    always: Sequence[str] = (),
) -> int:
    """Update rows of `model` matched on `keys`: each item of `rows` is (values of keys +
    columns, the names of the columns it changes). A column is set only on the rows that
    change it (the others keep what they have, like `save(update_fields=...)`); the columns in
    `always` (e.g. updated_at) are set on every row. One COPY, one UPDATE ... FROM."""
    if not rows:
        return 0
    table = model._meta.db_table
    staged = [*keys, *columns]
    with connection.cursor() as cursor:
        stage = _stage(
            cursor,
            table,
            staged,
            ((*values, list(changed)) for values, changed in rows),
            extra="bulk_changed text[] NOT NULL",
        )
        sets = [
            sql.SQL("{column} = s.{column}").format(column=sql.Identifier(column))
            if column in always
            else sql.SQL(
                "{column} = CASE WHEN {name} = ANY(s.bulk_changed) THEN s.{column} ELSE t.{column} END"
            ).format(column=sql.Identifier(column), name=sql.Literal(column))
            for column in columns
        ]
        where = sql.SQL(" AND ").join(sql.SQL("t.{key} = s.{key}").format(key=sql.Identifier(key)) for key in keys)
        cursor.execute(
            _text(
                sql.SQL("UPDATE {table} AS t SET {sets} FROM {stage} AS s WHERE {where}").format(
                    table=sql.Identifier(table), sets=sql.SQL(", ").join(sets), stage=sql.Identifier(stage), where=where
                )
            )
        )
        return int(cursor.rowcount)
