"""The dashboard's reads that still grew with a big tenant (issue 29):

- an index of the days of sales refunded in full on a later day, by the day of that refund:
  the current period's "refunded in full after its end" are read from it (a few rows),
  instead of every such day of the period;
- the active days' gap arrays compressed with lz4 instead of pglz: a year's dashboard
  decompresses two arrays per local day (730 x 2 x ~2.4 kB for the benchmark's tenant of
  100,000 clients), and lz4 decompresses them several times faster. Existing arrays are
  rewritten (each tenant in its own context: the table forces RLS on its owner too). Where the
  server has no lz4 (a build without it) nothing changes but the index. On Citus no tenant has
  aggregates (migration 0008): only the index.
"""

from django.db import migrations, models

from tenants.db.sharding import is_citus

LZ4_AVAILABLE = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"

TO_LZ4 = r"""
ALTER TABLE analytics_insightactiveday
    ALTER COLUMN neg_gaps SET COMPRESSION lz4,
    ALTER COLUMN neg_returning_gaps SET COMPRESSION lz4;
DO $$
DECLARE
    tenant uuid;
BEGIN
    FOR tenant IN SELECT id FROM tenants_tenant LOOP
        PERFORM set_config('app.tenant_id', tenant::text, true);
        -- A value is compressed when it is built: the casts build new arrays (an unchanged
        -- datum would be kept as it was, pglz and all).
        UPDATE analytics_insightactiveday
           SET neg_gaps = (neg_gaps::text)::smallint[], neg_returning_gaps = (neg_returning_gaps::text)::smallint[]
         WHERE tenant_id = tenant;
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END
$$;
"""

TO_DEFAULT = r"""
ALTER TABLE analytics_insightactiveday
    ALTER COLUMN neg_gaps SET COMPRESSION default,
    ALTER COLUMN neg_returning_gaps SET COMPRESSION default;
"""


def forward(apps, schema_editor):
    connection = schema_editor.connection
    if is_citus(connection):
        return
    with connection.cursor() as cursor:
        cursor.execute(LZ4_AVAILABLE)
        (available,) = cursor.fetchone()
        if available:
            cursor.execute(TO_LZ4)


def backward(apps, schema_editor):
    if not is_citus(schema_editor.connection):
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(TO_DEFAULT)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0011_insight_service_aggregates"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="insightclientday",
            index=models.Index(
                condition=models.Q(("permanent", 0), ("refunded_in_full_on__gt", models.F("day"))),
                fields=["tenant", "refunded_in_full_on"],
                include=("day", "client_id", "previous_permanent_day", "next_permanent_day"),
                name="insight_client_day_full_idx",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
