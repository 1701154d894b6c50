"""One tenant's aggregate refreshes take turns.

A statement trigger recomputes each local day the statement touched: it deletes the day's
aggregate rows and inserts them again from the table rows (migration 0008). Two transactions
of one tenant doing that for the same day at once collided on the aggregates' unique keys: the
second one's insert met the rows the first one had inserted, once that one committed
(`test_insight_concurrency.py`). Now every statement that writes a table the aggregates are
kept from first takes a transaction-level advisory lock of its tenant (the `app.tenant_id`
of its context, the tenant the rows belong to under RLS), before it touches any row: the
second transaction waits for the first to end, then recomputes the day from rows that include
the first one's. Writes of different tenants never wait for each other; a transaction takes
its tenant's lock once and holds it until it ends. The rebuild (analytics.aggregates) takes
it too. Not on Citus, where no triggers keep aggregates (migration 0008).
"""

from django.db import migrations

from tenants.db.sharding import is_citus

TABLES = ("analytics_transaction", "analytics_refund", "analytics_appointment", "analytics_transactionlineitem")

SQL = r"""
CREATE OR REPLACE FUNCTION analytics_insight_lock(p_tenant text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('analytics_insight:' || coalesce(p_tenant, ''), 0))
$$;

CREATE OR REPLACE FUNCTION analytics_insight_take_turn() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_insight_lock(current_setting('app.tenant_id', true));
    RETURN NULL;
END
$$;
"""

TRIGGERS = "".join(
    f"""
CREATE TRIGGER insight_before_write BEFORE INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_insight_take_turn();
"""
    for table in TABLES
)


def forward(apps, schema_editor):
    if is_citus(schema_editor.connection):
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SQL)
        cursor.execute(TRIGGERS)


def backward(apps, schema_editor):
    if is_citus(schema_editor.connection):
        return
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DROP TRIGGER IF EXISTS insight_before_write ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS analytics_insight_take_turn()")
        cursor.execute("DROP FUNCTION IF EXISTS analytics_insight_lock(text)")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0012_insight_dashboard_reads")]

    operations = [migrations.RunPython(forward, backward)]
