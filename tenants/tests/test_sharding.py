"""The shardable schema (tenants.db.sharding), read from the catalog, not listed by hand.

Every tenant table's primary key is (tenant_id, id), and every foreign key between tenant
tables carries tenant_id on both sides: a new model that forgets it fails here. And a row of
tenant B cannot point at tenant A's row: the database refuses it exactly like a missing id.
"""

from __future__ import annotations

import uuid

import pytest
from django.apps import apps
from django.db import IntegrityError, InternalError, connections

from conftest import build_full_world
from tenants.context import tenant_context
from tenants.db.sharding import TenantForeignKey
from tenants.models import TenantModel

pytestmark = [pytest.mark.citus, pytest.mark.usefixtures("committed")]


def _tables_with_tenant_id(cursor) -> set[str]:
    cursor.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
           AND a.attname = 'tenant_id' AND NOT a.attisdropped
        """
    )
    return {row[0] for row in cursor.fetchall()}


def tenant_foreign_keys() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(table, referenced table, [(column, referenced column), ...]) of every foreign key
    between two tables that both have tenant_id."""
    with connections["owner"].cursor() as cursor:
        tables = _tables_with_tenant_id(cursor)
        cursor.execute(
            """
            SELECT con.conrelid::regclass::text, con.confrelid::regclass::text,
                   array(SELECT attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                         JOIN pg_attribute ON attrelid = con.conrelid AND attnum = k.n ORDER BY k.i),
                   array(SELECT attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                         JOIN pg_attribute ON attrelid = con.confrelid AND attnum = k.n ORDER BY k.i)
              FROM pg_constraint con
             WHERE con.contype = 'f' AND con.connamespace = current_schema()::regnamespace
            """
        )
        return [
            (table, target, list(zip(columns, target_columns)))
            for table, target, columns, target_columns in cursor.fetchall()
            if table in tables and target in tables
        ]


def test_every_foreign_key_between_tenant_tables_includes_tenant_id():
    keys = tenant_foreign_keys()
    # The discovery finds the keys it should (so the check below is not vacuous).
    found = {(table, target) for table, target, _ in keys}
    assert ("analytics_appointment", "clients_client") in found
    assert ("clients_clienttag", "clients_tag") in found
    for table, target, pairs in keys:
        assert ("tenant_id", "tenant_id") in pairs, (
            f"{table} -> {target} {pairs}: the foreign key must include tenant_id"
        )


def test_every_foreign_key_between_tenant_models_is_a_composite_key_in_the_database():
    """A model's ForeignKey to a tenant model is a TenantForeignKey (no single-column
    constraint, joins on tenant_id too), and the composite key exists in the database."""
    keys = {
        (table, dict(pairs).get("tenant_id"), tuple(c for c, _ in pairs if c != "tenant_id"))
        for table, _, pairs in tenant_foreign_keys()
    }
    checked = 0
    for model in apps.get_models():
        if not issubclass(model, TenantModel):
            continue
        for field in model._meta.concrete_fields:
            target = getattr(field, "related_model", None)
            if field.name == "tenant" or target is None or not issubclass(target, TenantModel):
                continue
            label = f"{model._meta.label}.{field.name}"
            assert isinstance(field, TenantForeignKey), f"{label}: declare it a tenants.db.sharding.TenantForeignKey"
            assert not field.db_constraint
            assert (model._meta.db_table, "tenant_id", (field.column,)) in keys, (
                f"{label}: no composite foreign key (tenant_id, {field.column}); add tenants.db.sharding.tenant_keys"
            )
            checked += 1
    assert checked >= 10


def test_every_tenant_table_has_primary_key_tenant_id_id():
    with connections["owner"].cursor() as cursor:
        tables = sorted(_tables_with_tenant_id(cursor))
        cursor.execute(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'p' "
            "AND connamespace = current_schema()::regnamespace"
        )
        primary_keys = dict(cursor.fetchall())
    assert "clients_client" in tables
    for table in tables:
        assert primary_keys.get(table) == "PRIMARY KEY (tenant_id, id)", f"{table}: {primary_keys.get(table)}"


def _insert_appointment(tenant_id: uuid.UUID, client_id: uuid.UUID) -> Exception | None:
    """As the runtime role in `tenant_id`'s context, raw SQL: an appointment for `client_id`."""
    try:
        with tenant_context(tenant_id, role="owner_admin"), connections["default"].cursor() as cursor:
            cursor.execute(
                "INSERT INTO analytics_appointment (id, tenant_id, client_id, start_at, end_at, status, source,"
                " external_id, staff_name, price_amount, currency, created_at, updated_at)"
                " VALUES (%s, %s, %s, now(), now(), 'booked', 'manual', '', '', 0, 'USD', now(), now())",
                [uuid.uuid4(), tenant_id, client_id],
            )
        return None
    except (IntegrityError, InternalError) as error:  # Citus reports the shard's refusal at commit
        return error


def _shape(error: Exception | None) -> tuple:
    """What the error tells: its class and its message without the ids."""
    if error is None:
        return (None,)
    text = str(error)
    for value in _ids:
        text = text.replace(str(value), "<id>")
    return type(error), getattr(error.__cause__, "sqlstate", None), text


_ids: list = []


def test_a_reference_to_another_tenants_row_fails_exactly_like_a_missing_id():
    world = build_full_world()
    a_client = world.data["a"]["clients"]["client_id"]
    b_client = world.data["b"]["clients"]["client_id"]
    random_id = uuid.uuid4()
    _ids[:] = [a_client, b_client, random_id, world.tenant_a.id, world.tenant_b.id]
    # The same statement with B's own client succeeds: the statement itself is valid.
    assert _insert_appointment(world.tenant_b.id, b_client) is None
    cross_tenant = _insert_appointment(world.tenant_b.id, a_client)
    missing = _insert_appointment(world.tenant_b.id, random_id)
    assert cross_tenant is not None, "tenant B's row could point at tenant A's client"
    assert missing is not None
    assert _shape(cross_tenant) == _shape(missing)


def test_joins_along_tenant_foreign_keys_match_tenant_id():
    from analytics.models import Service
    from clients.models import Tag

    forward = str(Service.objects.select_related("category").query)
    assert '"analytics_servicecategory"."tenant_id" = ("analytics_service"."tenant_id")' in forward, forward
    reverse = str(Tag.objects.filter(client_tags__client__first_name="x").query)
    assert '"clients_tag"."tenant_id" = ("clients_clienttag"."tenant_id")' in reverse, reverse
    assert '"clients_client"."tenant_id" = ("clients_clienttag"."tenant_id")' in reverse, reverse


def test_tenant_querysets_name_the_context_tenant_and_only_inside_a_context():
    """On Citus a query naming its tenant goes to one shard (SELECT ... FOR UPDATE only runs so)."""
    from tenants.context import dangerously_support_read_context
    from tenants.models import BackgroundJob

    def where(queryset) -> str:
        return str(queryset.query).split(" WHERE ", 1)[1]

    world = build_full_world()
    with tenant_context(world.tenant_a.id, role="system"):
        scoped = where(BackgroundJob.objects.filter(kind="x"))
    assert '"tenants_backgroundjob"."tenant_id" = ' in scoped and world.tenant_a.id.hex in scoped.replace("-", ""), (
        scoped
    )
    assert "tenant_id" not in where(BackgroundJob.objects.filter(kind="x"))
    with dangerously_support_read_context(staff_user_id=None):
        assert "tenant_id" not in where(BackgroundJob.objects.filter(kind="x"))
