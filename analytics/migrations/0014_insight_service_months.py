"""Revenue by service and the dashboard's spans over whole calendar months (issue 29): a year
of a big tenant read about 12,000 day rows for revenue by service (a row per service, per set
of services and per refund span of each day) and 6,400 spans for the dashboard; they now read
whole months by month and only the partial first and last months by day (docs/insights.md,
"How the figures are kept").

Four tenant tables (RLS, tenant keys), each the sum of its month's day rows:
- analytics_insightspanmonth: the dashboard's spans (0008's analytics_insightspan) per sale
  month x refund month x currency: what was refunded, how many sales became fully refunded,
  their discounts;
and of 0011's tables:
- analytics_insightservicemonth: service money and quantities per month x currency x service;
- analytics_insightservicesetmonth: sales per month x currency x set of services;
- analytics_insightservicespanmonth: per sale month x refund month x currency x set, the
  sales that became fully refunded (their quantities summed element by element, their
  discounts).
And an index of the day spans by refund day: a period's whole months given back in the month
of its end, up to its end, are read by day.

Kept by the functions that keep the day rows: 0011's analytics_insight_refresh_service_days
and _spans are renamed _service_day_rows and _service_day_spans, and the old names run them
and then recompute the months of the same days from the day rows, in the same transaction;
analytics_insight_refresh_spans (0011's) also recomputes the span months. So
the triggers on sales, refunds and lines, and the rebuild, keep the months with no change of
their own. On Citus nothing is filled (as in 0008: no tenant has aggregates there).
"""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

from tenants.db.rls import enable_rls
from tenants.db.sharding import is_citus, tenant_keys

SQL = r"""
ALTER FUNCTION analytics_insight_refresh_service_days(uuid, date[]) RENAME TO analytics_insight_refresh_service_day_rows;
ALTER FUNCTION analytics_insight_refresh_service_spans(uuid, date[]) RENAME TO analytics_insight_refresh_service_day_spans;

-- The calendar months of the given local days: their service money and sets of services,
-- summed from the day rows (deleted and rebuilt whole, as the days are).
CREATE OR REPLACE FUNCTION analytics_insight_refresh_service_months(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    months date[] := ARRAY(SELECT DISTINCT date_trunc('month', d)::date FROM unnest(p_days) AS d);
BEGIN
    IF cardinality(months) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM analytics_insightservicemonth WHERE tenant_id = p_tenant AND month = ANY (months);
    DELETE FROM analytics_insightservicesetmonth WHERE tenant_id = p_tenant AND month = ANY (months);
    INSERT INTO analytics_insightservicemonth (tenant_id, month, currency, service_id, revenue, quantity)
    SELECT p_tenant, m.month, d.currency, d.service_id, sum(d.revenue), sum(d.quantity)
    FROM unnest(months) AS m(month)
    JOIN analytics_insightserviceday d
      ON d.tenant_id = p_tenant AND d.day >= m.month AND d.day < (m.month + interval '1 month')::date
    GROUP BY m.month, d.currency, d.service_id;
    INSERT INTO analytics_insightservicesetmonth (tenant_id, month, currency, services, sales)
    SELECT p_tenant, m.month, s.currency, s.services, sum(s.sales)
    FROM unnest(months) AS m(month)
    JOIN analytics_insightserviceset s
      ON s.tenant_id = p_tenant AND s.day >= m.month AND s.day < (m.month + interval '1 month')::date
    GROUP BY m.month, s.currency, s.services;
END
$$;

-- The sale months of the given local sale days: how many of their sales became fully refunded,
-- and their quantities and discounts, per refund month and set of services.
CREATE OR REPLACE FUNCTION analytics_insight_refresh_service_span_months(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    months date[] := ARRAY(SELECT DISTINCT date_trunc('month', d)::date FROM unnest(p_days) AS d);
BEGIN
    IF cardinality(months) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM analytics_insightservicespanmonth WHERE tenant_id = p_tenant AND sale_month = ANY (months);
    INSERT INTO analytics_insightservicespanmonth
        (tenant_id, currency, sale_month, refund_month, services, full_sales, full_quantities, full_discounts)
    WITH spans AS MATERIALIZED (
        SELECT m.month AS sale_month, date_trunc('month', s.refund_day)::date AS refund_month, s.currency,
               s.services, s.full_sales, s.full_quantities, s.full_discounts
        FROM unnest(months) AS m(month)
        JOIN analytics_insightservicespan s
          ON s.tenant_id = p_tenant AND s.sale_day >= m.month AND s.sale_day < (m.month + interval '1 month')::date
    ),
    totals AS (
        SELECT s.sale_month, s.refund_month, s.currency, s.services,
               sum(s.full_sales) AS full_sales, sum(s.full_discounts) AS full_discounts
        FROM spans s
        GROUP BY s.sale_month, s.refund_month, s.currency, s.services
    ),
    members AS (
        -- A set's quantities are in the order of its services: summed place by place.
        SELECT s.sale_month, s.refund_month, s.currency, s.services, u.n, sum(u.quantity) AS quantity
        FROM spans s
        CROSS JOIN LATERAL unnest(s.full_quantities) WITH ORDINALITY AS u(quantity, n)
        GROUP BY s.sale_month, s.refund_month, s.currency, s.services, u.n
    ),
    quantities AS (
        SELECT m.sale_month, m.refund_month, m.currency, m.services, array_agg(m.quantity ORDER BY m.n) AS full_quantities
        FROM members m
        GROUP BY m.sale_month, m.refund_month, m.currency, m.services
    )
    SELECT p_tenant, t.currency, t.sale_month, t.refund_month, t.services, t.full_sales, q.full_quantities,
           t.full_discounts
    FROM totals t
    JOIN quantities q USING (sale_month, refund_month, currency, services);
END
$$;

-- The sale months of the given local sale days: what their sales had refunded, and which of
-- them were fully refunded, per refund month (the dashboard's spans, analytics_insightspan).
CREATE OR REPLACE FUNCTION analytics_insight_refresh_span_months(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    months date[] := ARRAY(SELECT DISTINCT date_trunc('month', d)::date FROM unnest(p_days) AS d);
BEGIN
    IF cardinality(months) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM analytics_insightspanmonth WHERE tenant_id = p_tenant AND sale_month = ANY (months);
    INSERT INTO analytics_insightspanmonth
        (tenant_id, currency, sale_month, refund_month, refunded, full_sales, full_discounts)
    SELECT p_tenant, s.currency, m.month, date_trunc('month', s.refund_day)::date,
           sum(s.refunded), sum(s.full_sales), sum(s.full_discounts)
    FROM unnest(months) AS m(month)
    JOIN analytics_insightspan s
      ON s.tenant_id = p_tenant AND s.sale_day >= m.month AND s.sale_day < (m.month + interval '1 month')::date
    GROUP BY m.month, date_trunc('month', s.refund_day)::date, s.currency;
END
$$;

-- The name every trigger and the rebuild call for the spans (0011's): the day spans, their
-- months, then the services' (days and months).
CREATE OR REPLACE FUNCTION analytics_insight_refresh_spans(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_insight_refresh_day_spans(p_tenant, p_days);
    PERFORM analytics_insight_refresh_span_months(p_tenant, p_days);
    PERFORM analytics_insight_refresh_service_spans(p_tenant, p_days);
END
$$;

-- The names the refreshes of 0011 (and so every trigger and the rebuild) call: the days, then
-- their months.
CREATE OR REPLACE FUNCTION analytics_insight_refresh_service_days(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_insight_refresh_service_day_rows(p_tenant, p_days);
    PERFORM analytics_insight_refresh_service_months(p_tenant, p_days);
END
$$;

CREATE OR REPLACE FUNCTION analytics_insight_refresh_service_spans(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_insight_refresh_service_day_spans(p_tenant, p_days);
    PERFORM analytics_insight_refresh_service_span_months(p_tenant, p_days);
END
$$;

CREATE OR REPLACE FUNCTION analytics_insight_rebuild(p_tenant uuid, p_timezone text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM analytics_insightserviceday WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightserviceset WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightservicespan WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightservicemonth WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightservicesetmonth WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightservicespanmonth WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightspanmonth WHERE tenant_id = p_tenant;
    DELETE FROM analytics_insightactiveday WHERE tenant_id = p_tenant;
    PERFORM analytics_insight_rebuild_tables(p_tenant, p_timezone);
END
$$;
"""

# Tenants whose aggregates exist: their months, from their day rows (each in its own tenant
# context: the tables force RLS on their owner too).
BACKFILL = r"""
DO $$
DECLARE
    tenant uuid;
BEGIN
    FOR tenant IN SELECT id FROM tenants_tenant LOOP
        PERFORM set_config('app.tenant_id', tenant::text, true);
        CONTINUE WHEN analytics_insight_zone(tenant) IS NULL;
        PERFORM analytics_insight_refresh_service_months(tenant, ARRAY(
            SELECT DISTINCT date_trunc('month', d.day)::date FROM analytics_insightserviceday d WHERE d.tenant_id = tenant
            UNION
            SELECT DISTINCT date_trunc('month', s.day)::date FROM analytics_insightserviceset s WHERE s.tenant_id = tenant));
        PERFORM analytics_insight_refresh_service_span_months(tenant, ARRAY(
            SELECT DISTINCT date_trunc('month', s.sale_day)::date FROM analytics_insightservicespan s
            WHERE s.tenant_id = tenant));
        PERFORM analytics_insight_refresh_span_months(tenant, ARRAY(
            SELECT DISTINCT date_trunc('month', s.sale_day)::date FROM analytics_insightspan s
            WHERE s.tenant_id = tenant));
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END
$$;
"""

# A request reads a few hundred rows of these: parallel workers cost more than the scan.
SERIAL = """
ALTER TABLE analytics_insightservicemonth SET (parallel_workers = 0);
ALTER TABLE analytics_insightservicesetmonth SET (parallel_workers = 0);
ALTER TABLE analytics_insightservicespanmonth SET (parallel_workers = 0);
ALTER TABLE analytics_insightspanmonth SET (parallel_workers = 0);
"""

REVERSE_SQL = r"""
CREATE OR REPLACE FUNCTION analytics_insight_refresh_spans(p_tenant uuid, p_days date[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_insight_refresh_day_spans(p_tenant, p_days);
    PERFORM analytics_insight_refresh_service_spans(p_tenant, p_days);
END
$$;
DROP FUNCTION analytics_insight_refresh_span_months(uuid, date[]);
DROP FUNCTION analytics_insight_refresh_service_days(uuid, date[]);
DROP FUNCTION analytics_insight_refresh_service_spans(uuid, date[]);
DROP FUNCTION analytics_insight_refresh_service_months(uuid, date[]);
DROP FUNCTION analytics_insight_refresh_service_span_months(uuid, date[]);
ALTER FUNCTION analytics_insight_refresh_service_day_rows(uuid, date[]) RENAME TO analytics_insight_refresh_service_days;
ALTER FUNCTION analytics_insight_refresh_service_day_spans(uuid, date[]) RENAME TO analytics_insight_refresh_service_spans;
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


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SQL)
        if not is_citus(schema_editor.connection):
            cursor.execute(SERIAL)
            cursor.execute(BACKFILL)


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(REVERSE_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0013_insight_refresh_turns"),
        ("tenants", "0013_backgroundjob_unfinished_idx"),
    ]

    operations = [
        migrations.CreateModel(
            name="InsightServiceMonth",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("month", models.DateField()),
                ("currency", models.CharField(max_length=3)),
                ("service_id", models.UUIDField(null=True)),
                ("revenue", models.DecimalField(decimal_places=500, max_digits=1000)),
                ("quantity", models.DecimalField(decimal_places=3, max_digits=1000)),
            ],
        ),
        migrations.CreateModel(
            name="InsightServiceSetMonth",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("month", models.DateField()),
                ("currency", models.CharField(max_length=3)),
                (
                    "services",
                    django.contrib.postgres.fields.ArrayField(base_field=models.UUIDField(null=True), size=None),
                ),
                ("sales", models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="InsightServiceSpanMonth",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("currency", models.CharField(max_length=3)),
                ("sale_month", models.DateField()),
                ("refund_month", models.DateField()),
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
            ],
        ),
        migrations.AddIndex(
            model_name="insightservicespan",
            index=models.Index(fields=["tenant", "refund_day"], name="insight_svc_span_refund_idx"),
        ),
        migrations.AddField(
            model_name="insightservicemonth",
            name="tenant",
            field=models.ForeignKey(
                db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
            ),
        ),
        migrations.AddField(
            model_name="insightservicesetmonth",
            name="tenant",
            field=models.ForeignKey(
                db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
            ),
        ),
        migrations.AddField(
            model_name="insightservicespanmonth",
            name="tenant",
            field=models.ForeignKey(
                db_index=False, editable=False, on_delete=django.db.models.deletion.CASCADE, to="tenants.tenant"
            ),
        ),
        migrations.AddConstraint(
            model_name="insightservicemonth",
            constraint=models.UniqueConstraint(
                fields=("tenant", "month", "currency", "service_id"),
                name="insight_service_month_unique",
                nulls_distinct=False,
            ),
        ),
        migrations.AddConstraint(
            model_name="insightservicesetmonth",
            constraint=models.UniqueConstraint(
                fields=("tenant", "month", "currency", "services"), name="insight_service_set_month_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="insightservicespanmonth",
            constraint=models.UniqueConstraint(
                fields=("tenant", "sale_month", "refund_month", "currency", "services"),
                name="insight_service_span_month_unique",
            ),
        ),
        migrations.CreateModel(
            name="InsightSpanMonth",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("currency", models.CharField(max_length=3)),
                ("sale_month", models.DateField()),
                ("refund_month", models.DateField()),
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
                        fields=("tenant", "sale_month", "refund_month", "currency"), name="insight_span_month_unique"
                    )
                ],
            },
        ),
        enable_rls(
            "analytics_insightservicemonth",
            "analytics_insightservicesetmonth",
            "analytics_insightservicespanmonth",
            "analytics_insightspanmonth",
        ),
        tenant_keys("analytics_insightservicemonth"),
        tenant_keys("analytics_insightservicesetmonth"),
        tenant_keys("analytics_insightservicespanmonth"),
        tenant_keys("analytics_insightspanmonth"),
        migrations.RunPython(forward, backward),
    ]
