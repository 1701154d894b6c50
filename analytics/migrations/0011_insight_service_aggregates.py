"""Revenue by service from aggregates kept per local day (docs/insights.md, "How the figures
are kept").

Three tenant tables (RLS, tenant keys), kept in the same transaction as every write:
- analytics_insightserviceday: per local day x currency x service (NULL: "Other") the exact
  service money of the lines' shares of the day's sales and of the refunds dated that day,
  and the quantities of the day's sales' lines;
- analytics_insightserviceset: per local day x currency x set of services, how many of the
  day's sales have lines of exactly those services;
- analytics_insightservicespan: per sale day x refund day x currency x set of services (the
  refunds of the sale day's sales by the day given back, as analytics_insightspan), the sales
  that became fully refunded on the refund day, their quantities and their discounts.
Categories are resolved when a period is answered (a sale counts once per category of its
set), so a service moved to another category, or a deleted category, changes no row here.

Kept by the functions that already keep the day money and the spans: 0010's
analytics_insight_refresh_money and _spans are renamed _refresh_day_money and _day_spans, and
the old names now run them and then this migration's refreshes for the same days, so the
triggers on sales and refunds and the rebuild keep the new tables unchanged. A new statement
trigger on line items recomputes the days of the sales whose lines changed (and of their
refunds): lines added, changed, moved to "Other" by a deleted service (Django sets them to
NULL with an UPDATE), deleted. On Citus the triggers are not created and nothing is filled
(as in 0008).
"""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

from tenants.db.rls import enable_rls
from tenants.db.sharding import is_citus, tenant_keys

SQL = r"""
ALTER FUNCTION analytics_insight_refresh_money(uuid, date[]) RENAME TO analytics_insight_refresh_day_money;
ALTER FUNCTION analytics_insight_refresh_spans(uuid, date[]) RENAME TO analytics_insight_refresh_day_spans;

-- The given local days' service money per service (sales on them, refunds dated on them, with
-- the raw statement's expressions: analytics.selectors, revenue by service) and their sales'
-- sets of services. Each day's rows are read by their own index range (as 0010).
CREATE OR REPLACE FUNCTION analytics_insight_refresh_service_days(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tz text := analytics_insight_zone(p_tenant);
BEGIN
    IF tz IS NULL OR coalesce(cardinality(p_days), 0) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM analytics_insightserviceday WHERE tenant_id = p_tenant AND day = ANY (p_days);
    DELETE FROM analytics_insightserviceset WHERE tenant_id = p_tenant AND day = ANY (p_days);
    WITH days AS MATERIALIZED (
        SELECT x.day, (x.day::timestamp AT TIME ZONE tz) - interval '1 day' AS low,
               ((x.day + 1)::timestamp AT TIME ZONE tz) + interval '1 day' AS high
        FROM (SELECT DISTINCT unnest(p_days) AS day) x
    ),
    moves AS (
        -- A sale on its day; a refund on its own, with its share of the sale's tip and tax out.
        SELECT d.day, t.id AS move, t.id AS transaction_id, t.currency, true AS is_sale,
               (t.total_amount::numeric - coalesce(t.tip_amount, 0) - coalesce(t.tax_amount, 0)) AS service_money
        FROM days d
        CROSS JOIN LATERAL (
            SELECT t.id, t.currency, t.total_amount, t.tip_amount, t.tax_amount
            FROM analytics_transaction t
            WHERE t.tenant_id = p_tenant AND t.occurred_at >= d.low AND t.occurred_at < d.high
              AND (t.occurred_at AT TIME ZONE tz)::date = d.day
              AND t.status IN ('completed', 'refunded')
            OFFSET 0
        ) t
        UNION ALL
        SELECT d.day, r.id, r.transaction_id, r.currency, false,
               -(r.amount::numeric - coalesce((r.amount::numeric * t.tip_amount / nullif(t.total_amount, 0)), 0)
                 - coalesce((r.amount::numeric * t.tax_amount / nullif(t.total_amount, 0)), 0))
        FROM days d
        CROSS JOIN LATERAL (
            SELECT r.id, r.currency, r.amount, r.transaction_id
            FROM analytics_refund r
            WHERE r.tenant_id = p_tenant AND r.refunded_at >= d.low AND r.refunded_at < d.high
              AND (r.refunded_at AT TIME ZONE tz)::date = d.day
            OFFSET 0
        ) r
        JOIN analytics_transaction t ON t.tenant_id = p_tenant AND t.id = r.transaction_id
    ),
    lines AS (
        -- The lines share the move's service money as in the raw statement (exact numeric).
        SELECT m.day, m.currency, m.transaction_id, m.is_sale, li.service_id,
               CASE WHEN m.is_sale THEN coalesce(li.quantity, 1) ELSE 0 END AS quantity,
               CASE WHEN li.transaction_id IS NULL THEN m.service_money
                    WHEN sum(li.amount) OVER w = 0 THEN m.service_money / count(*) OVER w
                    ELSE m.service_money * li.amount / sum(li.amount) OVER w END AS revenue
        FROM moves m
        LEFT JOIN analytics_transactionlineitem li ON li.transaction_id = m.transaction_id AND li.tenant_id = p_tenant
        WINDOW w AS (PARTITION BY m.move)
    ),
    sale_sets AS (
        SELECT s.day, s.currency, array_agg(s.service_id ORDER BY s.service_id) AS services
        FROM (SELECT DISTINCT l.day, l.currency, l.transaction_id, l.service_id FROM lines l WHERE l.is_sale) s
        GROUP BY s.day, s.currency, s.transaction_id
    ),
    revenue AS (
        INSERT INTO analytics_insightserviceday (tenant_id, day, currency, service_id, revenue, quantity)
        SELECT p_tenant, l.day, l.currency, l.service_id, sum(l.revenue), sum(l.quantity)
        FROM lines l
        GROUP BY l.day, l.currency, l.service_id
    )
    INSERT INTO analytics_insightserviceset (tenant_id, day, currency, services, sales)
    SELECT p_tenant, s.day, s.currency, s.services, count(*)
    FROM sale_sets s
    GROUP BY s.day, s.currency, s.services;
END
$$;

-- The refunds of the given local days' sales by the local day they were given back and the
-- sales' sets of services (as analytics_insightspan: a row per sale day, refund day and set),
-- with how many of those sales became fully refunded that day and their lines' quantities
-- (0010's analytics_insight_refresh_day_spans says which, the same way).
CREATE OR REPLACE FUNCTION analytics_insight_refresh_service_spans(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tz text := analytics_insight_zone(p_tenant);
BEGIN
    IF tz IS NULL OR coalesce(cardinality(p_days), 0) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM analytics_insightservicespan WHERE tenant_id = p_tenant AND sale_day = ANY (p_days);
    INSERT INTO analytics_insightservicespan
        (tenant_id, currency, sale_day, refund_day, services, full_sales, full_quantities, full_discounts)
    WITH days AS MATERIALIZED (
        SELECT x.day, (x.day::timestamp AT TIME ZONE tz) - interval '1 day' AS low,
               ((x.day + 1)::timestamp AT TIME ZONE tz) + interval '1 day' AS high
        FROM (SELECT DISTINCT unnest(p_days) AS day) x
    ),
    sales AS (
        SELECT d.day AS sale_day, t.id, t.currency, t.total_amount, t.discount_amount
        FROM days d
        CROSS JOIN LATERAL (
            SELECT t.id, t.currency, t.total_amount, t.discount_amount
            FROM analytics_transaction t
            WHERE t.tenant_id = p_tenant AND t.occurred_at >= d.low AND t.occurred_at < d.high
              AND (t.occurred_at AT TIME ZONE tz)::date = d.day
              AND t.status IN ('completed', 'refunded') AND t.refunded_amount <> 0
            OFFSET 0
        ) t
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
        SELECT r.sale_day, r.refund_day, r.currency, r.id, r.discount_amount,
               (r.total_amount > 0 AND r.refunded_by >= r.total_amount
                AND r.refunded_by - r.amount < r.total_amount) AS becomes_full
        FROM running r
    ),
    per_sale AS (
        SELECT f.sale_day, f.refund_day, f.currency, f.id, f.becomes_full, f.discount_amount, li.service_id,
               sum(coalesce(li.quantity, 1)) AS quantity
        FROM marked f
        LEFT JOIN analytics_transactionlineitem li ON li.transaction_id = f.id AND li.tenant_id = p_tenant
        GROUP BY 1, 2, 3, 4, 5, 6, 7
    ),
    sale_sets AS (
        SELECT p.sale_day, p.refund_day, p.currency, p.becomes_full, p.discount_amount,
               array_agg(p.service_id ORDER BY p.service_id) AS services,
               array_agg(p.quantity ORDER BY p.service_id) AS quantities
        FROM per_sale p
        GROUP BY p.sale_day, p.refund_day, p.currency, p.id, p.becomes_full, p.discount_amount
    ),
    set_members AS (
        SELECT s.sale_day, s.refund_day, s.currency, s.services, u.n,
               count(*) FILTER (WHERE s.becomes_full) AS sales,
               coalesce(sum(u.quantity) FILTER (WHERE s.becomes_full), 0) AS quantity,
               coalesce(sum(s.discount_amount) FILTER (WHERE s.becomes_full), 0) AS discounts
        FROM sale_sets s
        CROSS JOIN LATERAL unnest(s.quantities) WITH ORDINALITY AS u(quantity, n)
        GROUP BY 1, 2, 3, 4, 5
    )
    SELECT p_tenant, m.currency, m.sale_day, m.refund_day, m.services, min(m.sales), array_agg(m.quantity ORDER BY m.n),
           min(m.discounts)
    FROM set_members m
    GROUP BY m.currency, m.sale_day, m.refund_day, m.services;
END
$$;

-- The names every trigger and the rebuild call: the day money and spans, then the services'.
CREATE OR REPLACE FUNCTION analytics_insight_refresh_money(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_insight_refresh_day_money(p_tenant, p_days);
    PERFORM analytics_insight_refresh_service_days(p_tenant, p_days);
END
$$;

CREATE OR REPLACE FUNCTION analytics_insight_refresh_spans(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_insight_refresh_day_spans(p_tenant, p_days);
    PERFORM analytics_insight_refresh_service_spans(p_tenant, p_days);
END
$$;

-- Lines added, changed (a deleted service sets them to NULL), moved or deleted: the days of
-- their sales and of those sales' refunds (their shares follow the lines).
CREATE OR REPLACE FUNCTION analytics_insight_line_item_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenants uuid[];
    keys uuid[];
    changed record;
    tz text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(tenant_id), array_agg(transaction_id) INTO tenants, keys FROM insight_new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(tenant_id), array_agg(transaction_id) INTO tenants, keys FROM insight_old_rows;
    ELSE
        SELECT array_agg(x.tenant_id), array_agg(x.transaction_id) INTO tenants, keys
        FROM (SELECT tenant_id, transaction_id FROM insight_old_rows
              UNION ALL SELECT tenant_id, transaction_id FROM insight_new_rows) x;
    END IF;
    FOR changed IN
        SELECT u.tenant_id, array_agg(DISTINCT u.sale) AS sales
        FROM unnest(tenants, keys) AS u(tenant_id, sale) GROUP BY u.tenant_id
    LOOP
        IF analytics_insight_ready(changed.tenant_id) THEN
            tz := analytics_insight_zone(changed.tenant_id);
            PERFORM analytics_insight_refresh_service_days(changed.tenant_id, ARRAY(
                SELECT (t.occurred_at AT TIME ZONE tz)::date FROM analytics_transaction t
                WHERE t.tenant_id = changed.tenant_id AND t.id IN (SELECT unnest(changed.sales))
                UNION
                SELECT (r.refunded_at AT TIME ZONE tz)::date FROM analytics_refund r
                WHERE r.tenant_id = changed.tenant_id AND r.transaction_id IN (SELECT unnest(changed.sales))));
            PERFORM analytics_insight_refresh_service_spans(changed.tenant_id, ARRAY(
                SELECT DISTINCT (t.occurred_at AT TIME ZONE tz)::date FROM analytics_transaction t
                WHERE t.tenant_id = changed.tenant_id AND t.id IN (SELECT unnest(changed.sales))
                  AND t.refunded_amount <> 0));
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION analytics_insight_rebuild(p_tenant uuid, p_timezone text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_insightserviceday WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightserviceset WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightservicespan WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightactiveday WHERE tenant_id = p_tenant;
    PERFORM analytics_insight_rebuild_tables(p_tenant, p_timezone);
END
$$;
"""

TRIGGERS = """
CREATE TRIGGER insight_after_insert AFTER INSERT ON analytics_transactionlineitem
    REFERENCING NEW TABLE AS insight_new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_insight_line_item_changed();
CREATE TRIGGER insight_after_update AFTER UPDATE ON analytics_transactionlineitem
    REFERENCING OLD TABLE AS insight_old_rows NEW TABLE AS insight_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_insight_line_item_changed();
CREATE TRIGGER insight_after_delete AFTER DELETE ON analytics_transactionlineitem
    REFERENCING OLD TABLE AS insight_old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_insight_line_item_changed();
"""

# Tenants whose aggregates exist: their service tables, from their rows (each in its own
# tenant context: the tables force RLS on their owner too).
BACKFILL = r"""
DO $$
DECLARE
    tenant uuid;
    tz text;
BEGIN
    FOR tenant IN SELECT id FROM tenants_tenant LOOP
        PERFORM set_config('app.tenant_id', tenant::text, true);
        tz := analytics_insight_zone(tenant);
        CONTINUE WHEN tz IS NULL;
        PERFORM analytics_insight_refresh_service_days(tenant, ARRAY(
            SELECT (t.occurred_at AT TIME ZONE tz)::date FROM analytics_transaction t WHERE t.tenant_id = tenant
            UNION
            SELECT (r.refunded_at AT TIME ZONE tz)::date FROM analytics_refund r WHERE r.tenant_id = tenant));
        PERFORM analytics_insight_refresh_service_spans(tenant, ARRAY(
            SELECT DISTINCT (t.occurred_at AT TIME ZONE tz)::date FROM analytics_transaction t
            WHERE t.tenant_id = tenant AND t.refunded_amount <> 0));
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END
$$;
"""

# A request reads a few thousand rows of these: parallel workers cost more than the scan.
SERIAL = """
ALTER TABLE analytics_insightserviceday SET (parallel_workers = 0);
ALTER TABLE analytics_insightserviceset SET (parallel_workers = 0);
ALTER TABLE analytics_insightservicespan SET (parallel_workers = 0);
"""

REVERSE_SQL = r"""
DROP TRIGGER IF EXISTS insight_after_insert ON analytics_transactionlineitem;
DROP TRIGGER IF EXISTS insight_after_update ON analytics_transactionlineitem;
DROP TRIGGER IF EXISTS insight_after_delete ON analytics_transactionlineitem;
DROP FUNCTION analytics_insight_line_item_changed();
DROP FUNCTION analytics_insight_refresh_money(uuid, date[]);
DROP FUNCTION analytics_insight_refresh_spans(uuid, date[]);
DROP FUNCTION analytics_insight_refresh_service_days(uuid, date[]);
DROP FUNCTION analytics_insight_refresh_service_spans(uuid, date[]);
ALTER FUNCTION analytics_insight_refresh_day_money(uuid, date[]) RENAME TO analytics_insight_refresh_money;
ALTER FUNCTION analytics_insight_refresh_day_spans(uuid, date[]) RENAME TO analytics_insight_refresh_spans;
CREATE OR REPLACE FUNCTION analytics_insight_rebuild(p_tenant uuid, p_timezone text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_insightactiveday WHERE tenant_id = p_tenant;
    PERFORM analytics_insight_rebuild_tables(p_tenant, p_timezone);
END
$$;
"""


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SQL)
        if not is_citus(schema_editor.connection):
            cursor.execute(SERIAL)
            cursor.execute(TRIGGERS)
            cursor.execute(BACKFILL)


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(REVERSE_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0010_insight_refresh_by_day"),
        ("tenants", "0012_backgroundjob_checkpoint"),
    ]

    operations = [
        migrations.CreateModel(
            name="InsightServiceDay",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("day", models.DateField()),
                ("currency", models.CharField(max_length=3)),
                ("service_id", models.UUIDField(null=True)),
                ("revenue", models.DecimalField(decimal_places=500, max_digits=1000)),
                ("quantity", models.DecimalField(decimal_places=3, max_digits=1000)),
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
                        fields=("tenant", "day", "currency", "service_id"),
                        name="insight_service_day_unique",
                        nulls_distinct=False,
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="InsightServiceSet",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("day", models.DateField()),
                ("currency", models.CharField(max_length=3)),
                (
                    "services",
                    django.contrib.postgres.fields.ArrayField(base_field=models.UUIDField(null=True), size=None),
                ),
                ("sales", models.BigIntegerField()),
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
                        fields=("tenant", "day", "currency", "services"), name="insight_service_set_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="InsightServiceSpan",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("currency", models.CharField(max_length=3)),
                ("sale_day", models.DateField()),
                ("refund_day", models.DateField()),
                (
                    "services",
                    django.contrib.postgres.fields.ArrayField(base_field=models.UUIDField(null=True), size=None),
                ),
                ("full_sales", models.BigIntegerField()),
                (
                    "full_quantities",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.DecimalField(decimal_places=3, max_digits=1000), size=None
                    ),
                ),
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
                        fields=("tenant", "sale_day", "refund_day", "currency", "services"),
                        name="insight_service_span_unique",
                    )
                ],
            },
        ),
        enable_rls("analytics_insightserviceday", "analytics_insightserviceset", "analytics_insightservicespan"),
        tenant_keys("analytics_insightserviceday"),
        tenant_keys("analytics_insightserviceset"),
        tenant_keys("analytics_insightservicespan"),
        migrations.RunPython(forward, backward),
    ]
