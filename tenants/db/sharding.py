"""Keys that shard by tenant, on plain PostgreSQL and on Citus.

The rule (architecture, isolation rule 5): every tenant table's primary key is
`(tenant_id, id)` and every foreign key between tenant tables is composite,
`(tenant_id, x_id) REFERENCES x (tenant_id, id)`. So

- a row can never point at another tenant's row: the database refuses it exactly as it
  refuses a missing id (same error, same moment), and tells nothing about other tenants;
- the schema distributes on Citus by `tenant_id`, co-located: every join and every foreign
  key stays inside one shard.

Django keeps seeing `id` as the primary key (UUIDs are globally unique; lookups by pk run
under RLS, which adds `tenant_id = <current>`, so they use the composite key). Foreign key
fields between tenant models are `TenantForeignKey`s: no single-column constraint (the
database constraint is the composite one this module adds, which Django cannot express), and
every join along them also matches tenant_id.

Converting a tenant model, in one migration of its app (after its CreateModel and RLS):

    from tenants.db.sharding import tenant_keys

    operations = [
        ...,
        tenant_keys("analytics_refund", foreign_keys={"transaction_id": "analytics_transaction"}),
    ]

with every ForeignKey from that model to a tenant model declared a `TenantForeignKey`, and
the migration depending on the target apps' tenant-keys migrations (their primary keys must
already be composite). `tenants/tests/test_sharding.py` reads the catalog and fails for any
tenant table or foreign key that breaks the rule.

On Citus (the `citus` extension is present) `tenant_keys` also distributes the table before
adding its foreign keys, because a local table may not reference a distributed one;
`distribute_schema` (run by `manage.py migrate`) places every other table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from django.db import migrations, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.utils import CursorWrapper
from django.db.models.expressions import Col
from django.db.models.lookups import Exact

# Where each table that has no tenant_id lives on Citus, and why.
# - Reference tables (a copy on every node): tenant tables have foreign keys to them and
#   join them inside single-shard queries (tenant resolution joins memberships with tenants
#   and users). Small, rarely written.
# - integrations_connectionroute (webhook and API-key routing) too: it is read before any
#   tenant is known, and it has row policies (a tenant writes only its own routes), which
#   Citus allows on reference tables but not on the "citus local" table it would become
#   through its foreign key to tenants_tenant.
REFERENCE_TABLES = ("tenants_tenant", "tenants_user", "integrations_connectionroute")
# - Everything else stays local to the coordinator: Django's own tables (auth, content types,
#   sessions, admin log, migrations) and django-celery-beat's schedules. Only the admin and
#   beat read them, never joined with tenant data. Those with a foreign key to a
#   reference table become Citus "local tables added to metadata" automatically; they still
#   live on the coordinator only.

# The table every tenant table is co-located with.
COLOCATION_ANCHOR = "tenants_membership"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def is_citus(connection: BaseDatabaseWrapper) -> bool:
    """Whether the database behind a Django connection has the citus extension: what
    tenants.context asked (once per database) when the connection opened."""
    connection.ensure_connection()
    return bool(getattr(connection, "_brandvx_citus", False))


def _drop_single_column_fks_sql(table: str, *, referencing: bool) -> str:
    """Drop single-column foreign keys to (referencing=True: pointing at) `table` from tenant
    tables. Databases migrated before the keys were composite hold Django's own constraints."""
    side = "confrelid" if referencing else "conrelid"
    return f"""
DO $$
DECLARE fk record;
BEGIN
  FOR fk IN
    SELECT con.conrelid::regclass AS tbl, con.conname
      FROM pg_constraint con
     WHERE con.contype = 'f' AND con.{side} = {_literal(table)}::regclass
       AND cardinality(con.conkey) = 1
       AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = con.conrelid AND a.attname = 'tenant_id')
       AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = con.confrelid AND a.attname = 'tenant_id')
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
  END LOOP;
END $$;
"""


def primary_key_sql(table: str) -> str:
    """Make the primary key (tenant_id, id), whatever the current one is called."""
    return f"""
DO $$
DECLARE pk record;
BEGIN
  SELECT conname, pg_get_constraintdef(oid) AS definition INTO pk
    FROM pg_constraint WHERE conrelid = {_literal(table)}::regclass AND contype = 'p';
  IF pk.definition IS DISTINCT FROM 'PRIMARY KEY (tenant_id, id)' THEN
    IF pk.conname IS NOT NULL THEN
      EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', {_literal(table)}, pk.conname);
    END IF;
    ALTER TABLE {_ident(table)} ADD CONSTRAINT {_ident(table + "_pkey")} PRIMARY KEY (tenant_id, id);
  END IF;
END $$;
"""


def fk_name(table: str, column: str) -> str:
    # PostgreSQL truncates names at 63 bytes; keep it readable and unique per column.
    return f"{table}_{column}_tenant_fk"[:63]


def composite_fk_sql(table: str, column: str, target: str) -> str:
    name = fk_name(table, column)
    return f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = {_literal(table)}::regclass AND conname = {_literal(name)}) THEN
    ALTER TABLE {_ident(table)} ADD CONSTRAINT {_ident(name)}
      FOREIGN KEY (tenant_id, {_ident(column)}) REFERENCES {_ident(target)} (tenant_id, id)
      DEFERRABLE INITIALLY DEFERRED;
  END IF;
END $$;
"""


def tenant_keys_forward_sql(table: str, foreign_keys: dict[str, str]) -> str:
    parts = [
        _drop_single_column_fks_sql(table, referencing=True),
        _drop_single_column_fks_sql(table, referencing=False),
        primary_key_sql(table),
    ]
    parts += [composite_fk_sql(table, column, target) for column, target in foreign_keys.items()]
    return "".join(parts)


def tenant_keys_reverse_sql(table: str, foreign_keys: dict[str, str]) -> str:
    t = _ident(table)
    drops = "".join(f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {_ident(fk_name(table, c))};\n" for c in foreign_keys)
    # Only the primary key is restored: the single-column foreign keys are not (the fields are
    # db_constraint=False in the migration history).
    return (
        drops
        + f"""
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_constraint con WHERE con.contype = 'f' AND con.confrelid = {_literal(table)}::regclass) THEN
    RAISE EXCEPTION 'reverse the tenant keys of the tables referencing {table} first';
  END IF;
END $$;
ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {_ident(table + "_pkey")};
ALTER TABLE {t} ADD CONSTRAINT {_ident(table + "_pkey")} PRIMARY KEY (id);
"""
    )


class TenantKeys(migrations.RunSQL):
    """Primary key (tenant_id, id) and composite foreign keys for one tenant table.

    Idempotent SQL (safe on databases created before or after the keys became composite). On
    Citus the table is distributed first: a local table may not reference a distributed one.
    """

    def __init__(self, table: str, foreign_keys: dict[str, str] | None = None) -> None:
        self.table = table
        self.foreign_keys = dict(foreign_keys or {})
        super().__init__(
            sql=tenant_keys_forward_sql(table, self.foreign_keys),
            reverse_sql=tenant_keys_reverse_sql(table, self.foreign_keys),
        )

    def deconstruct(self) -> tuple[str, Sequence[Any], dict[str, Any]]:
        return self.__class__.__name__, [self.table], {"foreign_keys": self.foreign_keys}

    def describe(self) -> str:
        return f"Tenant keys of {self.table}: primary key (tenant_id, id), composite foreign keys"

    def _run_sql(self, schema_editor: BaseDatabaseSchemaEditor, sqls: Any) -> None:
        connection = schema_editor.connection
        if sqls is self.sql and is_citus(connection) and schema_is_distributed(connection):
            # A new tenant table on a database distributed before: the key change first (on
            # the local table), then distribution, then the foreign keys (a local table may
            # not reference a distributed one). A first `migrate` distributes at its end.
            with connection.cursor() as cursor:
                cursor.execute(_drop_single_column_fks_sql(self.table, referencing=False))
                cursor.execute(primary_key_sql(self.table))
            distribute_ready_tenant_tables(connection)
            with connection.cursor() as cursor:
                for column, target in self.foreign_keys.items():
                    cursor.execute(composite_fk_sql(self.table, column, target))
            return
        super()._run_sql(schema_editor, sqls)  # type: ignore[misc]  # private in Django: not in django-stubs


def tenant_keys(table: str, *, foreign_keys: dict[str, str] | None = None) -> TenantKeys:
    """The migration operation for one tenant table: see the module docstring."""
    return TenantKeys(table, foreign_keys)


# --- the ORM side -----------------------------------------------------------------------


class TenantForeignKey(models.ForeignKey[Any, Any]):
    """A ForeignKey from a tenant model to a tenant model.

    - No single-column database constraint (`db_constraint=False`): the constraint is the
      composite one `tenant_keys` adds.
    - Every join along it also matches `tenant_id` (`... ON c.id = s.category_id AND
      c.tenant_id = s.tenant_id`). The rows are the same (the composite key guarantees it),
      and on Citus the join is between co-located shards of one tenant: a single-shard router
      query, including LEFT JOINs, which Citus on PostgreSQL 15/16 otherwise refuses.

    It deconstructs as a plain ForeignKey(db_constraint=False): migrations see no difference.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["db_constraint"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.ForeignKey", args, kwargs

    # django-stubs says WhereNode; Django takes any condition with as_sql() (its own
    # GenericRelation returns a lookup too), and passes None aliases for subquery pushdown.
    def get_extra_restriction(  # type: ignore[override]
        self, alias: str | None, related_alias: str | None
    ) -> Exact | None:
        if alias is None or related_alias is None:  # subquery pushdown: the plain join is enough
            return None
        # Both are the `tenant` ForeignKey of a tenant model (a concrete field, not a relation).
        tenant = cast("models.Field[Any, Any]", self.model._meta.get_field("tenant"))
        target_tenant = cast("models.Field[Any, Any]", self.related_model._meta.get_field("tenant"))
        return Exact(Col(alias, target_tenant), Col(related_alias, tenant))


# --- Citus ------------------------------------------------------------------------------

# Citus refuses a sub-select in a distributed table's policy. The same expression without the
# sub-select is accepted (current_setting is STABLE: still read once per statement into the
# index condition of an index scan; per row only in a filter).
_SUBSELECT_SETTING = re.compile(
    r"\( SELECT (\(NULLIF\(current_setting\('app\.\w+'::text, true\), ''::text\)\)::uuid) AS \"?nullif\"?\)"
)


def citus_policy_expression(expression: str | None) -> str | None:
    """A policy expression (as pg_policies shows it) in the form Citus accepts."""
    if expression is None:
        return None
    return _SUBSELECT_SETTING.sub(r"\1", expression)


def _rewrite_policies_for_citus(cursor: CursorWrapper, table: str) -> None:
    cursor.execute(
        "SELECT policyname, qual, with_check FROM pg_policies WHERE schemaname = current_schema() AND tablename = %s",
        [table],
    )
    for name, qual, with_check in cursor.fetchall():
        new_qual, new_check = citus_policy_expression(qual), citus_policy_expression(with_check)
        if (new_qual, new_check) == (qual, with_check):
            continue
        clauses = []
        if new_qual is not None:
            clauses.append(f"USING ({new_qual})")
        if new_check is not None:
            clauses.append(f"WITH CHECK ({new_check})")
        cursor.execute(f"ALTER POLICY {_ident(name)} ON {_ident(table)} {' '.join(clauses)}")


def _citus_table_type(cursor: CursorWrapper, table: str) -> str | None:
    cursor.execute(
        "SELECT CASE WHEN partmethod = 'h' THEN 'distributed' WHEN repmodel = 't' THEN 'reference' ELSE 'local' END"
        " FROM pg_dist_partition WHERE logicalrelid = %s::regclass",
        [table],
    )
    row = cursor.fetchone()
    return row[0] if row else None


def tenant_tables(cursor: CursorWrapper) -> list[str]:
    cursor.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
           AND a.attname = 'tenant_id' AND NOT a.attisdropped
         ORDER BY c.relname
        """
    )
    return [row[0] for row in cursor.fetchall()]


def _has_tenant_primary_key(cursor: CursorWrapper, table: str) -> bool:
    cursor.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", [table]
    )
    row = cursor.fetchone()
    return row is not None and row[0] == "PRIMARY KEY (tenant_id, id)"


def _foreign_keys_touching(cursor: CursorWrapper, tables: set[str]) -> list[tuple[str, str, str]]:
    """(table, constraint, definition) of every foreign key from or to one of `tables`."""
    cursor.execute(
        """
        SELECT con.conrelid::regclass::text, con.confrelid::regclass::text, con.conname, pg_get_constraintdef(con.oid)
          FROM pg_constraint con
         WHERE con.contype = 'f' AND con.connamespace = current_schema()::regnamespace
         ORDER BY 1, 3
        """
    )
    return [
        (src, name, definition) for src, dst, name, definition in cursor.fetchall() if src in tables or dst in tables
    ]


def schema_is_distributed(connection: BaseDatabaseWrapper) -> bool:
    """Whether `migrate` has distributed this Citus database before (tenants is a reference table)."""
    with connection.cursor() as cursor:
        return _citus_table_type(cursor, REFERENCE_TABLES[0]) == "reference"


def distribute_ready_tenant_tables(connection: BaseDatabaseWrapper, *, require_all: bool = False) -> list[str]:
    """Distribute by tenant_id, co-located, every tenant table not distributed yet whose primary
    key is (tenant_id, id); make the REFERENCE_TABLES reference tables. Returns the tables it
    distributed. Idempotent.

    Citus allows no foreign key between a distributed table and a plain local one, and turns a
    local table with a foreign key to a reference table into a "citus local" table, which may
    not have policies. So every foreign key from or to the tables being distributed is taken
    off first, the reference tables and the distributed ones made, and the keys put back.
    """
    with connection.cursor() as cursor:
        pending = [t for t in tenant_tables(cursor) if _citus_table_type(cursor, t) != "distributed"]
        not_ready = [t for t in pending if not _has_tenant_primary_key(cursor, t)]
        if require_all and not_ready:
            raise RuntimeError(
                f"tenant tables without the primary key (tenant_id, id): {', '.join(not_ready)}; "
                "add tenants.db.sharding.tenant_keys(...) to their migrations"
            )
        ready = [t for t in pending if t not in not_ready]
        # The audit log's append-only trigger only raises: safe on shards.
        cursor.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        # Foreign keys to reference tables are put back below, in the transaction that
        # distributed their tables: Citus then needs one connection per node.
        cursor.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        becoming_reference = {t for t in REFERENCE_TABLES if _citus_table_type(cursor, t) != "reference"}
        detached = _foreign_keys_touching(cursor, set(ready) | becoming_reference)
        for table, name, _ in detached:
            cursor.execute(f"ALTER TABLE {_ident(table)} DROP CONSTRAINT {_ident(name)}")
        for table in REFERENCE_TABLES:
            if _citus_table_type(cursor, table) != "reference":
                # Reference tables are distributed tables too: same policy form (tenants_tenant
                # has policies of its own: a tenant row is written only in its context).
                _rewrite_policies_for_citus(cursor, table)
                cursor.execute("SELECT create_reference_table(%s)", [table])
        # The anchor goes first: the others are co-located with it.
        ready.sort(key=lambda t: t != COLOCATION_ANCHOR)
        for table in ready:
            _rewrite_policies_for_citus(cursor, table)
            anchor = _citus_table_type(cursor, COLOCATION_ANCHOR) == "distributed"
            colocate = COLOCATION_ANCHOR if anchor and table != COLOCATION_ANCHOR else "default"
            cursor.execute("SELECT create_distributed_table(%s, 'tenant_id', colocate_with => %s)", [table, colocate])
        for table, name, definition in detached:
            cursor.execute(f"ALTER TABLE {_ident(table)} ADD CONSTRAINT {_ident(name)} {definition}")
        return ready


def distribute_schema(connection: BaseDatabaseWrapper) -> list[str]:
    """`manage.py migrate` on a Citus coordinator, after the migrations: every tenant table
    distributed and co-located, tenants and users reference tables, the rest local (see
    REFERENCE_TABLES). Nothing on plain PostgreSQL. Safe to run again."""
    if not is_citus(connection):
        return []
    with transaction.atomic(using=connection.alias):
        return distribute_ready_tenant_tables(connection, require_all=True)


# --- a big tenant on its own shard ----------------------------------------------------------


def tenant_shard(connection: BaseDatabaseWrapper, tenant_id: str) -> dict[str, Any]:
    """Where a tenant's rows live on Citus: the anchor table's shard holding them, its hash
    range, its node, and whether the shard holds this tenant alone (min = max)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.shardid, s.shardminvalue::bigint, s.shardmaxvalue::bigint, p.nodename, p.nodeport
              FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid)
              JOIN pg_dist_node p ON p.groupid = pl.groupid
             WHERE s.shardid = get_shard_id_for_distribution_column(%s, %s::uuid)
            """,
            [COLOCATION_ANCHOR, str(tenant_id)],
        )
        shard_id, low, high, node, port = cursor.fetchone()
    return {"shard_id": shard_id, "range": (low, high), "node": f"{node}:{port}", "isolated": low == high}


def split_blockers(connection: BaseDatabaseWrapper) -> list[str]:
    """The co-located tenant tables' stored generated columns ("table.column"): Citus 13.2's
    shard split (isolate_tenant_to_new_shard, citus_split_shard_by_split_points) copies rows
    with `worker_split_copy`, which misplaces the columns of such a table (the distribution
    column arrives NULL, or the worker crashes), so `isolate_tenant` refuses up front."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname || '.' || a.attname
              FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE a.attgenerated = 's'
               AND p.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = %s::regclass)
             ORDER BY 1
            """,
            [COLOCATION_ANCHOR],
        )
        return [row[0] for row in cursor.fetchall()]


def isolate_tenant(
    connection: BaseDatabaseWrapper, tenant_id: str, *, transfer_mode: str = "block_writes"
) -> dict[str, Any]:
    """Give one tenant shards of its own on Citus: `isolate_tenant_to_new_shard` on the anchor
    table with CASCADE, so every co-located tenant table splits the same way (its rows stay
    joinable inside one shard, and every statement naming the tenant still routes to one
    shard). The tenant's hash value gets a shard of its own; the rest of the old range stays
    in two shards beside it, on the same node (move it with `citus_move_shard_placement`).
    Idempotent: a tenant already alone in its shard is left as it is. Needs the owner's
    connection (a Citus superuser operation); `transfer_mode`: Citus's shard_transfer_mode
    ('block_writes' holds writes to the tenant's old shard while it splits; 'auto' and
    'force_logical' need wal_level = logical)."""
    if not is_citus(connection):
        raise RuntimeError("not a Citus coordinator: tenants are isolated by RLS alone on plain PostgreSQL")
    before = tenant_shard(connection, tenant_id)
    if before["isolated"]:
        return {**before, "changed": False}
    generated = split_blockers(connection)
    if generated:
        raise RuntimeError(
            "Citus cannot split these tables: a stored generated column ("
            + ", ".join(generated)
            + ") makes worker_split_copy fail or crash the worker in Citus 13.2 (seen with 13.2.2 on "
            "PostgreSQL 15: 'the partition column value cannot be NULL'). Nothing was changed."
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT isolate_tenant_to_new_shard(%s, %s::uuid, 'CASCADE', shard_transfer_mode => %s::citus.shard_transfer_mode)",
            [COLOCATION_ANCHOR, str(tenant_id), transfer_mode],
        )
    return {**tenant_shard(connection, tenant_id), "changed": True}
