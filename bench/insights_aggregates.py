"""In-process timings of the insights, from the rows (raw) and from the aggregates (issue 29).

One big tenant (default 100,000 sales over the last year, 3% refunded 0-29 days later, 40,000
visits, 20,000 clients) beside a small one (2,000 sales), loaded set-based as the owner; then
each insight over the last year and the last month, medians of --repeat runs, both paths,
under RLS as the runtime role. Use a throw-away database:

    createdb -h 127.0.0.1 -U postgres brandvx_insights_bench
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/brandvx_insights_bench DJANGO_DEBUG=1
    python manage.py migrate
    python bench/insights_aggregates.py --sales 100000 --repeat 9

(the development settings: the test settings refuse to run outside the test suite)
"""

from __future__ import annotations

import argparse
import datetime
import functools
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402

from analytics import selectors  # noqa: E402
from tenants.context import tenant_context  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import tenant_create  # noqa: E402


def load(tenant: Tenant, sales: int, clients: int, visits: int) -> tuple[float, float]:
    """Set-based, as the owner, with the triggers off (replica mode, as bench/loader.py
    loads), then ANALYZE and the aggregates built by the rebuild: (load, rebuild) seconds."""
    started = time.monotonic()
    t = str(tenant.id)
    with connections["owner"].cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            """INSERT INTO clients_client (id, tenant_id, first_name, last_name, email, email_hash, phone, phone_hash,
                   phone_extension, notes, source, email_consent, sms_consent, created_at, updated_at)
               SELECT md5(%s || ':c:' || n)::uuid, %s, 'C' || n, 'Bench', 'c' || n || '@bench.test', '', '', '', '', '',
                      'manual', false, false, now(), now()
               FROM generate_series(1, %s) n""",
            [t, t, clients],
        )
        cursor.execute(
            """INSERT INTO analytics_transaction (id, tenant_id, client_id, occurred_at, status, total_amount,
                   refunded_amount, tip_amount, tax_amount, discount_amount, currency, source, external_id,
                   created_at, updated_at)
               SELECT md5(%s || ':x:' || n)::uuid, %s,
                      CASE WHEN n %% 10 = 0 THEN NULL ELSE md5(%s || ':c:' || (1 + (n * 7) %% %s))::uuid END,
                      now() - make_interval(secs => ((n::bigint * 15485863) %% (365 * 86400))::float8),
                      CASE WHEN n %% 100 < 3 THEN 'refunded' WHEN n %% 100 = 3 THEN 'failed' ELSE 'completed' END,
                      2000 + (n * 37 %% 180) * 100,
                      CASE WHEN n %% 100 < 3 THEN 2000 + (n * 37 %% 180) * 100 ELSE 0 END,
                      (n %% 5) * 100, (n %% 3) * 50, (n %% 7) * 10, 'USD', 'manual', '', now(), now()
               FROM generate_series(1, %s) n""",
            [t, t, t, clients, sales],
        )
        cursor.execute(
            """INSERT INTO analytics_refund (id, tenant_id, transaction_id, amount, currency, refunded_at, source,
                   external_id, created_at)
               SELECT md5(%s || ':r:' || n)::uuid, %s, md5(%s || ':x:' || n)::uuid, 2000 + (n * 37 %% 180) * 100, 'USD',
                      now() - make_interval(secs => ((n::bigint * 15485863) %% (365 * 86400))::float8)
                        + make_interval(days => n %% 30), 'manual', '', now()
               FROM generate_series(1, %s) n WHERE n %% 100 < 3""",
            [t, t, t, sales],
        )
        cursor.execute(
            """INSERT INTO analytics_appointment (id, tenant_id, client_id, staff_name, start_at, end_at, status,
                   price_amount, currency, source, external_id, created_at, updated_at)
               SELECT md5(%s || ':a:' || n)::uuid, %s, md5(%s || ':c:' || (1 + (n * 11) %% %s))::uuid, 'Sam',
                      s, s + interval '1 hour',
                      CASE WHEN s > now() THEN 'booked' WHEN n %% 20 = 0 THEN 'no_show'
                           WHEN n %% 14 = 0 THEN 'canceled' ELSE 'completed' END,
                      6500, 'USD', 'manual', '', now(), now()
               FROM generate_series(1, %s) n,
                    LATERAL (SELECT now() - make_interval(secs => ((n::bigint * 7919) %% (380 * 86400))::float8)
                                    + interval '14 days' AS s) x""",
            [t, t, t, clients, visits],
        )
        cursor.execute("SET session_replication_role = origin")
        cursor.execute("ANALYZE")
        loaded = time.monotonic() - started
        cursor.execute("SELECT analytics_insight_rebuild(%s, %s)", [t, tenant.timezone])
        cursor.execute("ANALYZE")
    return loaded, time.monotonic() - started - loaded


def median_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


INSIGHTS: dict[str, tuple[Callable[..., Any], Callable[..., Any], dict[str, Any]]] = {
    "dashboard": (selectors.dashboard, selectors.dashboard_raw, {}),
    "revenue_timeseries": (selectors.revenue_timeseries, selectors.revenue_timeseries_raw, {"interval": "week"}),
    "revenue_by_service": (selectors.revenue_by_service, selectors.revenue_by_service_raw, {}),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=100_000)
    parser.add_argument("--small-sales", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=15)
    options = parser.parse_args()
    tenants = {}
    for label, sales in (("big", options.sales), ("small", options.small_sales)):
        tenant = tenant_create(
            name=f"insights-{label}-{uuid.uuid4().hex[:6]}", owner_sub=uuid.uuid4(), timezone="America/New_York"
        )
        loaded, rebuilt = load(tenant, sales, max(200, sales // 5), max(400, sales * 2 // 5))
        print(f"loaded {label}: {sales} sales in {loaded:.1f}s, aggregates rebuilt in {rebuilt:.1f}s")
        tenants[label] = tenant
    for label, tenant in tenants.items():
        today = tenant.today()
        for span, days in (("year", 364), ("month", 29)):
            start = today - datetime.timedelta(days=days)
            with tenant_context(tenant.id, role="system"):
                assert selectors.aggregates_ready(tenant=tenant)
                for name, (fast, raw, extra) in INSIGHTS.items():
                    arguments = {"tenant": tenant, "start": start, "end": today, **extra}
                    same = fast(**arguments) == raw(**arguments)
                    fast_ms = median_ms(functools.partial(fast, **arguments), options.repeat)
                    raw_ms = median_ms(functools.partial(raw, **arguments), options.repeat)
                    print(
                        f"{label:5} {span:5} {name:20} raw {raw_ms:8.2f} ms   aggregates {fast_ms:7.2f} ms"
                        f"   identical={same}"
                    )


if __name__ == "__main__":
    main()
