"""The day refreshes of the insight aggregates read each named local day by its own index
range (docs/insights.md, "What a write costs").

Migration 0008's analytics_insight_refresh_money, _spans and _visits join the named days with
the tenant's sales (refunds, visits) on the day's range. Planned inside PL/pgSQL, with the
number of days unknown, PostgreSQL hashed that join and read every row of the table: one sale
written for the benchmark's big tenant (1,000,000 sales) cost 2.3 s of triggers, 1.7 s of it
a sequential scan of the sales. Here each day's rows are read by a LATERAL subquery (OFFSET 0
keeps it one: a nested loop of index range scans), with the same expressions as before, so the
rows and sums are the same. A rebuild (every day of a tenant) reads each day by its range too.
"""

import re

from django.db import migrations

SQL = r"""
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
    WITH days AS MATERIALIZED (
        -- Each day's instants, computed here: compared with a column as plain values, the
        -- range is an index condition even under RLS (an expression of the joined day in
        -- the comparison is not leakproof, so PostgreSQL would filter every row instead).
        SELECT x.day, (x.day::timestamp AT TIME ZONE tz) - interval '1 day' AS low,
               ((x.day + 1)::timestamp AT TIME ZONE tz) + interval '1 day' AS high
        FROM (SELECT DISTINCT unnest(p_days) AS day) x
    )
    SELECT p_tenant, m.day, m.currency, sum(m.sales), sum(m.gross), sum(m.tips), sum(m.taxes), sum(m.discounts),
           sum(m.refunds), coalesce(sum(m.refund_tips), 0), coalesce(sum(m.refund_taxes), 0)
    FROM (
        SELECT d.day, t.currency, 1 AS sales, t.total_amount::numeric AS gross, t.tip_amount::numeric AS tips,
               t.tax_amount::numeric AS taxes, t.discount_amount::numeric AS discounts, 0::numeric AS refunds,
               NULL::numeric AS refund_tips, NULL::numeric AS refund_taxes
        FROM days d
        CROSS JOIN LATERAL (
            SELECT t.currency, t.total_amount, t.tip_amount, t.tax_amount, t.discount_amount
            FROM analytics_transaction t
            WHERE t.tenant_id = p_tenant AND t.occurred_at >= d.low AND t.occurred_at < d.high
              AND (t.occurred_at AT TIME ZONE tz)::date = d.day
              AND t.status IN ('completed', 'refunded')
            OFFSET 0
        ) t
        UNION ALL
        -- The same exact fractions as the raw path (analytics.selectors): summed exactly.
        SELECT d.day, r.currency, 0, 0, 0, 0, 0, r.amount::numeric,
               r.amount::numeric * t.tip_amount / nullif(t.total_amount, 0),
               r.amount::numeric * t.tax_amount / nullif(t.total_amount, 0)
        FROM days d
        CROSS JOIN LATERAL (
            SELECT r.currency, r.amount, r.transaction_id
            FROM analytics_refund r
            WHERE r.tenant_id = p_tenant AND r.refunded_at >= d.low AND r.refunded_at < d.high
              AND (r.refunded_at AT TIME ZONE tz)::date = d.day
            OFFSET 0
        ) r
        JOIN analytics_transaction t ON t.tenant_id = p_tenant AND t.id = r.transaction_id
    ) m
    GROUP BY m.day, m.currency;
END
$$;

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
    WITH days AS MATERIALIZED (
        -- Each day's instants, computed here: compared with a column as plain values, the
        -- range is an index condition even under RLS (an expression of the joined day in
        -- the comparison is not leakproof, so PostgreSQL would filter every row instead).
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
    WITH days AS MATERIALIZED (
        -- Each day's instants, computed here: compared with a column as plain values, the
        -- range is an index condition even under RLS (an expression of the joined day in
        -- the comparison is not leakproof, so PostgreSQL would filter every row instead).
        SELECT x.day, (x.day::timestamp AT TIME ZONE tz) - interval '1 day' AS low,
               ((x.day + 1)::timestamp AT TIME ZONE tz) + interval '1 day' AS high
        FROM (SELECT DISTINCT unnest(p_days) AS day) x
    )
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
    FROM days d
    CROSS JOIN LATERAL (
        SELECT a.client_id, a.start_at, a.status
        FROM analytics_appointment a
        WHERE a.tenant_id = p_tenant AND a.start_at >= d.low AND a.start_at < d.high
          AND (a.start_at AT TIME ZONE tz)::date = d.day
          AND a.status IN ('completed', 'no_show')
        OFFSET 0
    ) a
    GROUP BY d.day;
END
$$;
"""

NAMES = ("analytics_insight_refresh_money", "analytics_insight_refresh_spans", "analytics_insight_refresh_visits")


def _previous_sql() -> str:
    """0008's text of the three functions (its other functions are 0009's to keep)."""
    from importlib import import_module

    frozen = import_module("analytics.migrations.0008_insight_aggregates").SQL
    parts = []
    for name in NAMES:
        found = re.search(rf"CREATE OR REPLACE FUNCTION {name}\(.*?\n\$\$;\n", frozen, re.S)
        assert found, name
        parts.append(found.group(0))
    return "\n".join(parts)


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SQL)


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_previous_sql())


class Migration(migrations.Migration):
    dependencies = [("analytics", "0009_insight_active_days")]

    operations = [migrations.RunPython(forward, backward)]
