"""Active and returning clients from one row per local day (docs/insights.md, "How the
figures are kept"): analytics_insightactiveday, and on each permanent client-day the days
since the client's previous permanent day (`gap`) and since its first visit or purchase
(`returning_gap`).

The client-days are kept by analytics_insight_refresh_clients (migration 0008); that function
is renamed here to analytics_insight_refresh_client_days and the name now runs it and then
analytics_insight_refresh_active on the same clients, in the same transaction: every trigger
and the rebuild keep the new rows without changing. The rebuild clears the new table first
(a time zone change moves every day). On Citus nothing is kept (as in 0008): the functions are
created, no tenant has aggregates, and the insights take the raw path.
"""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

from tenants.db.rls import enable_rls
from tenants.db.sharding import is_citus, tenant_keys

SQL = r"""
ALTER FUNCTION analytics_insight_refresh_clients(uuid, uuid[], date[]) RENAME TO analytics_insight_refresh_client_days;
ALTER FUNCTION analytics_insight_rebuild(uuid, text) RENAME TO analytics_insight_rebuild_tables;

-- The gaps of the given clients' permanent days (and on their days of sales refunded in full
-- on a later day, their permanent days just before and after), then the active-day rows of every day whose
-- client-days changed: the given days (client-days recomputed, added or dropped) and the days
-- whose gap moved (the next permanent day of a client after an added or dropped one; every
-- day of a client whose first visit or purchase moved).
CREATE OR REPLACE FUNCTION analytics_insight_refresh_active(p_tenant uuid, p_clients uuid[], p_days date[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    changed date[];
BEGIN
    IF coalesce(cardinality(p_clients), 0) = 0 THEN
        RETURN;
    END IF;
    WITH days AS (
        SELECT c.id, c.day, c.gap, c.returning_gap, f.first_day,
               least(coalesce(c.day - lag(c.day) OVER (PARTITION BY c.client_id ORDER BY c.day), 32767), 32767) AS new_gap
        FROM analytics_insightclientday c
        LEFT JOIN analytics_insightclient f ON f.tenant_id = p_tenant AND f.client_id = c.client_id
        WHERE c.tenant_id = p_tenant AND c.client_id IN (SELECT unnest(p_clients)) AND c.permanent > 0
    ),
    computed AS (
        SELECT d.id, d.new_gap::smallint AS new_gap,
               (CASE WHEN d.first_day IS NULL THEN -1
                     ELSE greatest(-1, least(d.new_gap, d.day - d.first_day, 32767)) END)::smallint AS new_returning
        FROM days d
        WHERE d.gap IS DISTINCT FROM d.new_gap::smallint
           OR d.returning_gap IS DISTINCT FROM (CASE WHEN d.first_day IS NULL THEN -1
                     ELSE greatest(-1, least(d.new_gap, d.day - d.first_day, 32767)) END)::smallint
    ),
    updated AS (
        UPDATE analytics_insightclientday c SET gap = x.new_gap, returning_gap = x.new_returning
        FROM computed x
        WHERE c.tenant_id = p_tenant AND c.id = x.id
        RETURNING c.day
    )
    SELECT array_agg(DISTINCT u.day) INTO changed
    FROM (SELECT day FROM updated UNION SELECT unnest(p_days)) u
    WHERE u.day IS NOT NULL;
    -- The clients' days of sales refunded in full on a later day: their permanent neighbours.
    WITH days AS (
        SELECT c.id, c.permanent, c.refunded_in_full_on > c.day AS later,
               c.previous_permanent_day, c.next_permanent_day,
               max(c.day) FILTER (WHERE c.permanent > 0) OVER (PARTITION BY c.client_id ORDER BY c.day
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS new_previous,
               min(c.day) FILTER (WHERE c.permanent > 0) OVER (PARTITION BY c.client_id ORDER BY c.day
                   ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS new_next
        FROM analytics_insightclientday c
        WHERE c.tenant_id = p_tenant AND c.client_id IN (SELECT unnest(p_clients))
    )
    UPDATE analytics_insightclientday c SET previous_permanent_day = d.new_previous, next_permanent_day = d.new_next
    FROM days d
    WHERE c.tenant_id = p_tenant AND c.id = d.id AND d.permanent = 0 AND d.later
      AND (d.previous_permanent_day IS DISTINCT FROM d.new_previous OR d.next_permanent_day IS DISTINCT FROM d.new_next);
    IF changed IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM analytics_insightactiveday WHERE tenant_id = p_tenant AND day IN (SELECT unnest(changed));
    INSERT INTO analytics_insightactiveday (tenant_id, day, neg_gaps, neg_returning_gaps)
    SELECT p_tenant, c.day, array_agg(-c.gap ORDER BY -c.gap), array_agg(-c.returning_gap ORDER BY -c.returning_gap)
    FROM analytics_insightclientday c
    WHERE c.tenant_id = p_tenant AND c.day IN (SELECT unnest(changed)) AND c.permanent > 0
    GROUP BY c.day;
END
$$;

CREATE OR REPLACE FUNCTION analytics_insight_refresh_clients(p_tenant uuid, p_clients uuid[], p_days date[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF analytics_insight_zone(p_tenant) IS NULL OR coalesce(cardinality(p_clients), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM analytics_insight_refresh_client_days(p_tenant, p_clients, p_days);
    PERFORM analytics_insight_refresh_active(p_tenant, p_clients, p_days);
END
$$;

CREATE OR REPLACE FUNCTION analytics_insight_rebuild(p_tenant uuid, p_timezone text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_insightactiveday WHERE tenant_id = p_tenant;
    PERFORM analytics_insight_rebuild_tables(p_tenant, p_timezone);
END
$$;
"""

REVERSE_SQL = r"""
DROP FUNCTION analytics_insight_rebuild(uuid, text);
DROP FUNCTION analytics_insight_refresh_clients(uuid, uuid[], date[]);
DROP FUNCTION analytics_insight_refresh_active(uuid, uuid[], date[]);
ALTER FUNCTION analytics_insight_rebuild_tables(uuid, text) RENAME TO analytics_insight_rebuild;
ALTER FUNCTION analytics_insight_refresh_client_days(uuid, uuid[], date[]) RENAME TO analytics_insight_refresh_clients;
"""

# Tenants whose aggregates exist: their gaps and active days, from their client-days (each in
# its own tenant context: the tables force RLS on their owner too).
BACKFILL = r"""
DO $$
DECLARE
    tenant uuid;
BEGIN
    FOR tenant IN SELECT id FROM tenants_tenant LOOP
        PERFORM set_config('app.tenant_id', tenant::text, true);
        PERFORM analytics_insight_refresh_active(tenant,
            ARRAY(SELECT DISTINCT client_id FROM analytics_insightclientday WHERE tenant_id = tenant),
            ARRAY(SELECT DISTINCT day FROM analytics_insightclientday WHERE tenant_id = tenant));
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END
$$;
"""


# One request reads a few thousand index entries of these: starting parallel workers for it
# costs more than the scan (10 to 20 ms on a busy 2-core machine, against 2 to 4).
SERIAL = """
ALTER TABLE analytics_insightclientday SET (parallel_workers = 0);
ALTER TABLE analytics_insightactiveday SET (parallel_workers = 0);
"""


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SQL)
        if not is_citus(schema_editor.connection):
            cursor.execute(SERIAL)
            cursor.execute(BACKFILL)


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(REVERSE_SQL)
        cursor.execute("ALTER TABLE analytics_insightclientday RESET (parallel_workers)")


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0008_insight_aggregates"),
        ("tenants", "0012_backgroundjob_checkpoint"),
    ]

    operations = [
        migrations.CreateModel(
            name="InsightActiveDay",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("day", models.DateField()),
                (
                    "neg_gaps",
                    django.contrib.postgres.fields.ArrayField(base_field=models.SmallIntegerField(), size=None),
                ),
                (
                    "neg_returning_gaps",
                    django.contrib.postgres.fields.ArrayField(base_field=models.SmallIntegerField(), size=None),
                ),
            ],
        ),
        migrations.AddField(
            model_name="insightclientday",
            name="gap",
            field=models.SmallIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="insightclientday",
            name="returning_gap",
            field=models.SmallIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="insightclientday",
            name="previous_permanent_day",
            field=models.DateField(null=True),
        ),
        migrations.AddField(
            model_name="insightclientday",
            name="next_permanent_day",
            field=models.DateField(null=True),
        ),
        migrations.AddIndex(
            model_name="insightclientday",
            index=models.Index(
                condition=models.Q(("permanent", 0), ("refunded_in_full_on__gt", models.F("day"))),
                fields=["tenant", "day"],
                include=("client_id", "refunded_in_full_on", "previous_permanent_day", "next_permanent_day"),
                name="insight_client_day_later_idx",
            ),
        ),
        migrations.AddField(
            model_name="insightactiveday",
            name="tenant",
            field=models.ForeignKey(
                db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
            ),
        ),
        migrations.AddConstraint(
            model_name="insightactiveday",
            constraint=models.UniqueConstraint(fields=("tenant", "day"), name="insight_active_day_unique"),
        ),
        enable_rls("analytics_insightactiveday"),
        tenant_keys("analytics_insightactiveday"),
        migrations.RunPython(forward, backward),
    ]
