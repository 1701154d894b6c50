"""Insight aggregates kept by triggers (docs/insights.md, "How the figures are kept").

Four tenant tables (RLS, tenant keys) and the PL/pgSQL that keeps them: statement triggers on
transactions, refunds and appointments recompute the local days a statement touched, in its
transaction, as the writing role (SECURITY INVOKER: the tenant policy applies). The SQL is
frozen here; analytics.aggregates calls these functions.

On Citus the triggers are not created (triggers on distributed tables need
citus.enable_unsafe_triggers, and a trigger on one shard writing other tables is what that
setting calls unsafe): there the state table stays empty and every insight takes the raw path.
"""

import django.db.models.deletion
from django.db import migrations, models

from tenants.db.rls import enable_rls
from tenants.db.sharding import is_citus, tenant_keys


SQL = r"""
-- The local date of an instant in a time zone, and the instants to search for one local day
-- (a day either side: the index range; the local date is then compared exactly).
CREATE OR REPLACE FUNCTION analytics_insight_zone(p_tenant uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT timezone FROM analytics_insightstate WHERE tenant_id = p_tenant
$$;

-- Money of the given local days: sales on them, refunds dated on them (insightday).
CREATE OR REPLACE FUNCTION analytics_insight_refresh_money(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tz text := analytics_insight_zone(p_tenant);
BEGIN
    IF tz IS NULL OR coalesce(cardinality(p_days), 0) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM analytics_insightday WHERE tenant_id = p_tenant AND day = ANY (p_days);
    INSERT INTO analytics_insightday
        (tenant_id, day, currency, sales, gross, sale_tips, sale_taxes, discounts, refunds, refund_tips, refund_taxes)
    SELECT p_tenant, m.day, m.currency, sum(m.sales), sum(m.gross), sum(m.tips), sum(m.taxes), sum(m.discounts),
           sum(m.refunds), coalesce(sum(m.refund_tips), 0), coalesce(sum(m.refund_taxes), 0)
    FROM (
        SELECT d.day, t.currency, 1 AS sales, t.total_amount::numeric AS gross, t.tip_amount::numeric AS tips,
               t.tax_amount::numeric AS taxes, t.discount_amount::numeric AS discounts, 0::numeric AS refunds,
               NULL::numeric AS refund_tips, NULL::numeric AS refund_taxes
        FROM (SELECT DISTINCT unnest(p_days) AS day) d
        JOIN analytics_transaction t
          ON t.tenant_id = p_tenant
         AND t.occurred_at >= (d.day::timestamp AT TIME ZONE tz) - interval '1 day'
         AND t.occurred_at < ((d.day + 1)::timestamp AT TIME ZONE tz) + interval '1 day'
         AND (t.occurred_at AT TIME ZONE tz)::date = d.day
        WHERE t.status IN ('completed', 'refunded')
        UNION ALL
        -- The same exact fractions as the raw path (analytics.selectors): summed exactly.
        SELECT d.day, r.currency, 0, 0, 0, 0, 0, r.amount::numeric,
               r.amount::numeric * t.tip_amount / nullif(t.total_amount, 0),
               r.amount::numeric * t.tax_amount / nullif(t.total_amount, 0)
        FROM (SELECT DISTINCT unnest(p_days) AS day) d
        JOIN analytics_refund r
          ON r.tenant_id = p_tenant
         AND r.refunded_at >= (d.day::timestamp AT TIME ZONE tz) - interval '1 day'
         AND r.refunded_at < ((d.day + 1)::timestamp AT TIME ZONE tz) + interval '1 day'
         AND (r.refunded_at AT TIME ZONE tz)::date = d.day
        JOIN analytics_transaction t ON t.tenant_id = p_tenant AND t.id = r.transaction_id
    ) m
    GROUP BY m.day, m.currency;
END
$$;

-- Refunds of the given local days' sales, by the local day they were given back, and the
-- day each sale became fully refunded (insightspan). Only sales with refunds are read.
CREATE OR REPLACE FUNCTION analytics_insight_refresh_spans(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tz text := analytics_insight_zone(p_tenant);
BEGIN
    IF tz IS NULL OR coalesce(cardinality(p_days), 0) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM analytics_insightspan WHERE tenant_id = p_tenant AND sale_day = ANY (p_days);
    INSERT INTO analytics_insightspan
        (tenant_id, currency, sale_day, refund_day, refunded, full_sales, full_discounts)
    WITH sales AS (
        SELECT d.day AS sale_day, t.id, t.currency, t.total_amount, t.discount_amount
        FROM (SELECT DISTINCT unnest(p_days) AS day) d
        JOIN analytics_transaction t
          ON t.tenant_id = p_tenant
         AND t.occurred_at >= (d.day::timestamp AT TIME ZONE tz) - interval '1 day'
         AND t.occurred_at < ((d.day + 1)::timestamp AT TIME ZONE tz) + interval '1 day'
         AND (t.occurred_at AT TIME ZONE tz)::date = d.day
        WHERE t.status IN ('completed', 'refunded') AND t.refunded_amount <> 0
    ),
    by_day AS (
        SELECT s.sale_day, s.id, s.currency, s.total_amount, s.discount_amount,
               (r.refunded_at AT TIME ZONE tz)::date AS refund_day, sum(r.amount)::numeric AS amount
        FROM sales s
        JOIN analytics_refund r ON r.tenant_id = p_tenant AND r.transaction_id = s.id
        GROUP BY 1, 2, 3, 4, 5, 6
    ),
    running AS (
        SELECT b.*, sum(b.amount) OVER (PARTITION BY b.id ORDER BY b.refund_day) AS refunded_by
        FROM by_day b
    ),
    marked AS (
        -- Fully refunded on this day: the refunds up to it reach the total, not the day before.
        SELECT r.*, (r.total_amount > 0 AND r.refunded_by >= r.total_amount
                     AND r.refunded_by - r.amount < r.total_amount) AS becomes_full
        FROM running r
    )
    SELECT p_tenant, m.currency, m.sale_day, m.refund_day, sum(m.amount),
           count(*) FILTER (WHERE m.becomes_full),
           coalesce(sum(m.discount_amount) FILTER (WHERE m.becomes_full), 0)
    FROM marked m
    GROUP BY m.currency, m.sale_day, m.refund_day;
END
$$;

-- Visits of the given local days (insightvisitday). "Rebooked" is the raw path's probe, in
-- UTC arithmetic (the raw path runs in Django's UTC session).
CREATE OR REPLACE FUNCTION analytics_insight_refresh_visits(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tz text := analytics_insight_zone(p_tenant);
BEGIN
    IF tz IS NULL OR coalesce(cardinality(p_days), 0) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM analytics_insightvisitday WHERE tenant_id = p_tenant AND day = ANY (p_days);
    INSERT INTO analytics_insightvisitday (tenant_id, day, completed, no_shows, rebookable, rebooked)
    SELECT p_tenant, d.day,
           count(*) FILTER (WHERE a.status = 'completed'),
           count(*) FILTER (WHERE a.status = 'no_show'),
           count(*) FILTER (WHERE a.status = 'completed' AND a.client_id IS NOT NULL),
           count(*) FILTER (WHERE a.status = 'completed' AND a.client_id IS NOT NULL AND EXISTS (
               SELECT 1 FROM analytics_appointment n
               WHERE n.tenant_id = p_tenant AND n.client_id = a.client_id
                 AND n.start_at > a.start_at
                 AND n.start_at <= ((a.start_at AT TIME ZONE 'UTC') + interval '60 days') AT TIME ZONE 'UTC'
                 AND n.status <> 'canceled'
           ))
    FROM (SELECT DISTINCT unnest(p_days) AS day) d
    JOIN analytics_appointment a
      ON a.tenant_id = p_tenant
     AND a.start_at >= (d.day::timestamp AT TIME ZONE tz) - interval '1 day'
     AND a.start_at < ((d.day + 1)::timestamp AT TIME ZONE tz) + interval '1 day'
     AND (a.start_at AT TIME ZONE tz)::date = d.day
    WHERE a.status IN ('completed', 'no_show')
    GROUP BY d.day;
END
$$;

-- The given (client, local day) pairs (insightclientday), then those clients' first visit or
-- purchase (insightclient). A sale fully refunded (its refunds reach a non-zero total) is a
-- transaction of the periods ending before the local day its refunds reached the total.
CREATE OR REPLACE FUNCTION analytics_insight_refresh_clients(p_tenant uuid, p_clients uuid[], p_days date[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tz text := analytics_insight_zone(p_tenant);
BEGIN
    IF tz IS NULL OR coalesce(cardinality(p_clients), 0) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM analytics_insightclientday c
    USING (SELECT DISTINCT * FROM unnest(p_clients, p_days) AS x(client_id, day) WHERE x.client_id IS NOT NULL) x
    WHERE c.tenant_id = p_tenant AND c.client_id = x.client_id AND c.day = x.day;
    INSERT INTO analytics_insightclientday (tenant_id, client_id, day, permanent, earlier_custom, refunded_in_full_on)
    SELECT p_tenant, x.client_id, x.day, e.permanent, e.earlier_custom, e.refunded_in_full_on
    FROM (SELECT DISTINCT * FROM unnest(p_clients, p_days) AS x(client_id, day) WHERE x.client_id IS NOT NULL) x
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE ev.full_day IS NULL) AS permanent,
               count(*) FILTER (WHERE ev.earlier) AS earlier_custom,
               max(ev.full_day) AS refunded_in_full_on
        FROM (
            SELECT t.status = 'completed' AS earlier,
                   CASE WHEN t.total_amount > 0 AND t.refunded_amount <> 0 THEN (
                       SELECT min(r.day) FROM (
                           SELECT g.day, sum(g.amount) OVER (ORDER BY g.day) AS refunded_by
                           FROM (SELECT (rf.refunded_at AT TIME ZONE tz)::date AS day, sum(rf.amount) AS amount
                                 FROM analytics_refund rf
                                 WHERE rf.tenant_id = p_tenant AND rf.transaction_id = t.id
                                 GROUP BY 1) g
                       ) r
                       WHERE r.refunded_by >= t.total_amount)
                   END AS full_day
            FROM analytics_transaction t
            WHERE t.tenant_id = p_tenant AND t.client_id = x.client_id
              AND t.occurred_at >= (x.day::timestamp AT TIME ZONE tz) - interval '1 day'
              AND t.occurred_at < ((x.day + 1)::timestamp AT TIME ZONE tz) + interval '1 day'
              AND (t.occurred_at AT TIME ZONE tz)::date = x.day
              AND t.status IN ('completed', 'refunded')
            UNION ALL
            SELECT true, NULL::date
            FROM analytics_appointment a
            WHERE a.tenant_id = p_tenant AND a.client_id = x.client_id
              AND a.start_at >= (x.day::timestamp AT TIME ZONE tz) - interval '1 day'
              AND a.start_at < ((x.day + 1)::timestamp AT TIME ZONE tz) + interval '1 day'
              AND (a.start_at AT TIME ZONE tz)::date = x.day
              AND a.status = 'completed'
        ) ev
        HAVING count(*) > 0
    ) e;
    -- IN (SELECT unnest(..)): a hashed set; "= ANY (array)" would compare each row with the
    -- whole array (a bulk import names tens of thousands of clients).
    DELETE FROM analytics_insightclient
    WHERE tenant_id = p_tenant AND client_id IN (SELECT unnest(p_clients));
    INSERT INTO analytics_insightclient (tenant_id, client_id, first_day)
    SELECT p_tenant, c.client_id, min(c.day)
    FROM analytics_insightclientday c
    WHERE c.tenant_id = p_tenant AND c.client_id IN (SELECT unnest(p_clients)) AND c.earlier_custom > 0
    GROUP BY c.client_id;
END
$$;

-- Every aggregate of one tenant, from its rows, bucketed in p_timezone.
CREATE OR REPLACE FUNCTION analytics_insight_rebuild(p_tenant uuid, p_timezone text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_insightday WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightspan WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightvisitday WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightclientday WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightclient WHERE tenant_id = p_tenant;
    INSERT INTO analytics_insightstate (tenant_id, timezone, rebuilt_at)
    VALUES (p_tenant, p_timezone, now())
    ON CONFLICT (tenant_id) DO UPDATE SET timezone = excluded.timezone, rebuilt_at = excluded.rebuilt_at;
    PERFORM analytics_insight_refresh_money(p_tenant, ARRAY(
        SELECT (t.occurred_at AT TIME ZONE p_timezone)::date FROM analytics_transaction t WHERE t.tenant_id = p_tenant
        UNION
        SELECT (r.refunded_at AT TIME ZONE p_timezone)::date FROM analytics_refund r WHERE r.tenant_id = p_tenant));
    PERFORM analytics_insight_refresh_spans(p_tenant, ARRAY(
        SELECT DISTINCT (t.occurred_at AT TIME ZONE p_timezone)::date FROM analytics_transaction t
        WHERE t.tenant_id = p_tenant AND t.refunded_amount <> 0));
    PERFORM analytics_insight_refresh_visits(p_tenant, ARRAY(
        SELECT DISTINCT (a.start_at AT TIME ZONE p_timezone)::date FROM analytics_appointment a
        WHERE a.tenant_id = p_tenant AND a.status IN ('completed', 'no_show')));
    PERFORM analytics_insight_refresh_clients(p_tenant, array_agg(x.client_id), array_agg(x.day))
    FROM (
        SELECT t.client_id, (t.occurred_at AT TIME ZONE p_timezone)::date AS day FROM analytics_transaction t
        WHERE t.tenant_id = p_tenant AND t.client_id IS NOT NULL AND t.status IN ('completed', 'refunded')
        UNION
        SELECT a.client_id, (a.start_at AT TIME ZONE p_timezone)::date FROM analytics_appointment a
        WHERE a.tenant_id = p_tenant AND a.client_id IS NOT NULL AND a.status = 'completed'
    ) x;
END
$$;

-- A tenant written to for the first time since the aggregates exist gets them built whole
-- (in the time zone it has now); returns false then (nothing left to refresh).
CREATE OR REPLACE FUNCTION analytics_insight_ready(p_tenant uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF analytics_insight_zone(p_tenant) IS NOT NULL THEN
        RETURN true;
    END IF;
    PERFORM analytics_insight_rebuild(p_tenant, (SELECT timezone FROM tenants_tenant WHERE id = p_tenant));
    RETURN false;
END
$$;

-- Statement triggers: the changed rows (transition tables) name the tenants and the local
-- days to recompute; each day is recomputed once per statement, from the rows as they are
-- now (so the order of cascaded statements does not matter).
-- Each reads the transition tables its trigger has (INSERT: new, DELETE: old, UPDATE: both).
CREATE OR REPLACE FUNCTION analytics_insight_transaction_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenants uuid[];
    keys uuid[];
    people uuid[];
    instants timestamptz[];
    changed record;
    tz text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(tenant_id), array_agg(id), array_agg(client_id), array_agg(occurred_at)
        INTO tenants, keys, people, instants
        FROM insight_new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(tenant_id), array_agg(id), array_agg(client_id), array_agg(occurred_at)
        INTO tenants, keys, people, instants
        FROM insight_old_rows;
    ELSE
        SELECT array_agg(x.tenant_id), array_agg(x.id), array_agg(x.client_id), array_agg(x.occurred_at)
        INTO tenants, keys, people, instants
        FROM (SELECT tenant_id, id, client_id, occurred_at FROM insight_old_rows
              UNION ALL SELECT tenant_id, id, client_id, occurred_at FROM insight_new_rows) x;
    END IF;
    FOR changed IN
        SELECT u.tenant_id, array_agg(u.id) AS ids, array_agg(u.client_id) AS clients, array_agg(u.at) AS instants
        FROM unnest(tenants, keys, people, instants) AS u(tenant_id, id, client_id, at) GROUP BY u.tenant_id
    LOOP
        IF analytics_insight_ready(changed.tenant_id) THEN
            tz := analytics_insight_zone(changed.tenant_id);
            PERFORM analytics_insight_refresh_money(changed.tenant_id, ARRAY(
                SELECT (i AT TIME ZONE tz)::date FROM unnest(changed.instants) i
                UNION
                -- Their refunds' tip and tax shares follow the sale's amounts.
                SELECT (r.refunded_at AT TIME ZONE tz)::date FROM analytics_refund r
                WHERE r.tenant_id = changed.tenant_id AND r.transaction_id IN (SELECT unnest(changed.ids))));
            PERFORM analytics_insight_refresh_spans(changed.tenant_id, ARRAY(
                SELECT DISTINCT (i AT TIME ZONE tz)::date FROM unnest(changed.instants) i));
            PERFORM analytics_insight_refresh_clients(changed.tenant_id, changed.clients, ARRAY(
                SELECT (i AT TIME ZONE tz)::date FROM unnest(changed.instants) WITH ORDINALITY AS u(i, n) ORDER BY n));
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION analytics_insight_refund_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenants uuid[];
    keys uuid[];
    instants timestamptz[];
    changed record;
    tz text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(tenant_id), array_agg(transaction_id), array_agg(refunded_at) INTO tenants, keys, instants
        FROM insight_new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(tenant_id), array_agg(transaction_id), array_agg(refunded_at) INTO tenants, keys, instants
        FROM insight_old_rows;
    ELSE
        SELECT array_agg(x.tenant_id), array_agg(x.transaction_id), array_agg(x.refunded_at)
        INTO tenants, keys, instants
        FROM (SELECT tenant_id, transaction_id, refunded_at FROM insight_old_rows
              UNION ALL SELECT tenant_id, transaction_id, refunded_at FROM insight_new_rows) x;
    END IF;
    FOR changed IN
        SELECT u.tenant_id, array_agg(u.sale) AS sales, array_agg(u.at) AS instants
        FROM unnest(tenants, keys, instants) AS u(tenant_id, sale, at) GROUP BY u.tenant_id
    LOOP
        IF analytics_insight_ready(changed.tenant_id) THEN
            tz := analytics_insight_zone(changed.tenant_id);
            PERFORM analytics_insight_refresh_money(changed.tenant_id, ARRAY(
                SELECT DISTINCT (i AT TIME ZONE tz)::date FROM unnest(changed.instants) i));
            PERFORM analytics_insight_refresh_spans(changed.tenant_id, ARRAY(
                SELECT DISTINCT (t.occurred_at AT TIME ZONE tz)::date FROM analytics_transaction t
                WHERE t.tenant_id = changed.tenant_id AND t.id IN (SELECT unnest(changed.sales))));
            PERFORM analytics_insight_refresh_clients(changed.tenant_id, array_agg(t.client_id),
                                                      array_agg((t.occurred_at AT TIME ZONE tz)::date))
            FROM analytics_transaction t
            WHERE t.tenant_id = changed.tenant_id AND t.id IN (SELECT unnest(changed.sales)) AND t.client_id IS NOT NULL;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION analytics_insight_appointment_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenants uuid[];
    keys uuid[];
    instants timestamptz[];
    changed record;
    tz text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(tenant_id), array_agg(client_id), array_agg(start_at) INTO tenants, keys, instants
        FROM insight_new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(tenant_id), array_agg(client_id), array_agg(start_at) INTO tenants, keys, instants
        FROM insight_old_rows;
    ELSE
        SELECT array_agg(x.tenant_id), array_agg(x.client_id), array_agg(x.start_at) INTO tenants, keys, instants
        FROM (SELECT tenant_id, client_id, start_at FROM insight_old_rows
              UNION ALL SELECT tenant_id, client_id, start_at FROM insight_new_rows) x;
    END IF;
    FOR changed IN
        SELECT u.tenant_id, array_agg(u.client_id) AS clients, array_agg(u.at) AS instants
        FROM unnest(tenants, keys, instants) AS u(tenant_id, client_id, at) GROUP BY u.tenant_id
    LOOP
        IF analytics_insight_ready(changed.tenant_id) THEN
            tz := analytics_insight_zone(changed.tenant_id);
            PERFORM analytics_insight_refresh_visits(changed.tenant_id, ARRAY(
                SELECT (i AT TIME ZONE tz)::date FROM unnest(changed.instants) i
                UNION
                -- The client's completed visits of the 60 days before: their "rebooked" may change.
                SELECT (a.start_at AT TIME ZONE tz)::date
                FROM unnest(changed.clients, changed.instants) AS c(client_id, start_at)
                JOIN analytics_appointment a
                  ON a.tenant_id = changed.tenant_id AND a.client_id = c.client_id
                 AND a.start_at < c.start_at
                 AND a.start_at >= ((c.start_at AT TIME ZONE 'UTC') - interval '60 days') AT TIME ZONE 'UTC'
                 AND a.status = 'completed'
                WHERE c.client_id IS NOT NULL));
            PERFORM analytics_insight_refresh_clients(changed.tenant_id, changed.clients, ARRAY(
                SELECT (i AT TIME ZONE tz)::date FROM unnest(changed.instants) WITH ORDINALITY AS u(i, n) ORDER BY n));
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
"""

TRIGGERS = []
for table, function in (
    ("analytics_transaction", "analytics_insight_transaction_changed"),
    ("analytics_refund", "analytics_insight_refund_changed"),
    ("analytics_appointment", "analytics_insight_appointment_changed"),
):
    TRIGGERS.append(f"""
CREATE TRIGGER insight_after_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS insight_new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER insight_after_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS insight_old_rows NEW TABLE AS insight_new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER insight_after_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS insight_old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
""")


def create_triggers(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SQL)
        if not is_citus(schema_editor.connection):
            cursor.execute("".join(TRIGGERS))


def drop_triggers(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in ("analytics_transaction", "analytics_refund", "analytics_appointment"):
            for event in ("insert", "update", "delete"):
                cursor.execute(f"DROP TRIGGER IF EXISTS insight_after_{event} ON {table}")
        for function in (
            "analytics_insight_transaction_changed()",
            "analytics_insight_refund_changed()",
            "analytics_insight_appointment_changed()",
            "analytics_insight_ready(uuid)",
            "analytics_insight_rebuild(uuid, text)",
            "analytics_insight_refresh_clients(uuid, uuid[], date[])",
            "analytics_insight_refresh_visits(uuid, date[])",
            "analytics_insight_refresh_spans(uuid, date[])",
            "analytics_insight_refresh_money(uuid, date[])",
            "analytics_insight_zone(uuid)",
        ):
            cursor.execute(f"DROP FUNCTION IF EXISTS {function}")


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0007_tenant_keys"),
        ("tenants", "0009_tenant_support_access_permission"),
    ]

    operations = [
        migrations.CreateModel(
            name="InsightDay",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("day", models.DateField()),
                ("currency", models.CharField(max_length=3)),
                ("sales", models.BigIntegerField()),
                ("gross", models.DecimalField(decimal_places=0, max_digits=1000)),
                ("sale_tips", models.DecimalField(decimal_places=0, max_digits=1000)),
                ("sale_taxes", models.DecimalField(decimal_places=0, max_digits=1000)),
                ("discounts", models.DecimalField(decimal_places=0, max_digits=1000)),
                ("refunds", models.DecimalField(decimal_places=0, max_digits=1000)),
                ("refund_tips", models.DecimalField(decimal_places=500, max_digits=1000)),
                ("refund_taxes", models.DecimalField(decimal_places=500, max_digits=1000)),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "day", "currency"), name="insight_day_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="InsightSpan",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("currency", models.CharField(max_length=3)),
                ("sale_day", models.DateField()),
                ("refund_day", models.DateField()),
                ("refunded", models.DecimalField(decimal_places=0, max_digits=1000)),
                ("full_sales", models.BigIntegerField()),
                ("full_discounts", models.DecimalField(decimal_places=0, max_digits=1000)),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("tenant", "sale_day", "refund_day", "currency"), name="insight_span_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="InsightState",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("timezone", models.CharField(max_length=64)),
                ("rebuilt_at", models.DateTimeField()),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("tenant",), name="insight_state_one_per_tenant")],
            },
        ),
        migrations.CreateModel(
            name="InsightVisitDay",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("day", models.DateField()),
                ("completed", models.BigIntegerField()),
                ("no_shows", models.BigIntegerField()),
                ("rebookable", models.BigIntegerField()),
                ("rebooked", models.BigIntegerField()),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("tenant", "day"), name="insight_visit_day_unique")],
            },
        ),
        migrations.CreateModel(
            name="InsightClient",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("client_id", models.UUIDField()),
                ("first_day", models.DateField()),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("tenant", "client_id"), name="insight_client_unique")],
            },
        ),
        migrations.CreateModel(
            name="InsightClientDay",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("client_id", models.UUIDField()),
                ("day", models.DateField()),
                ("permanent", models.BigIntegerField()),
                ("earlier_custom", models.BigIntegerField()),
                ("refunded_in_full_on", models.DateField(null=True)),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["tenant", "day"],
                        include=("client_id", "permanent", "refunded_in_full_on"),
                        name="insight_client_day_day_idx",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "client_id", "day"), name="insight_client_day_unique")
                ],
            },
        ),
        enable_rls(
            "analytics_insightstate",
            "analytics_insightday",
            "analytics_insightspan",
            "analytics_insightvisitday",
            "analytics_insightclientday",
            "analytics_insightclient",
        ),
        tenant_keys("analytics_insightstate"),
        tenant_keys("analytics_insightday"),
        tenant_keys("analytics_insightspan"),
        tenant_keys("analytics_insightvisitday"),
        tenant_keys("analytics_insightclientday"),
        tenant_keys("analytics_insightclient"),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
