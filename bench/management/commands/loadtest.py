"""`manage.py loadtest`: a realistic request mix against gunicorn on loopback (issue 7, "Load").

Several tenants, a mix of client list, search, birthdays, dashboard and create client, bounded
in time and in requests. Reports requests per second, p50/p95/p99 latency, errors, and the
share of time spent setting the tenant context (one set_config per transaction, folded into
the transaction's first statement).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

if TYPE_CHECKING:
    from bench.database import BenchDatabase  # imported at run time inside the functions (Django set up first)

MIX = [
    # kind, weight, method, path template
    ("client_list", 35, "GET", "/api/v1/clients/"),
    ("client_search", 20, "GET", "/api/v1/clients/?search={term}"),
    ("birthdays", 15, "GET", "/api/v1/clients/birthdays/?days_ahead=7"),
    ("dashboard", 15, "GET", "/api/v1/analytics/dashboard/?start={start}&end={end}"),
    ("create_client", 15, "POST", "/api/v1/clients/"),
]


class Command(BaseCommand):
    help = "Load-test the API through gunicorn on loopback with a realistic mix of requests from several tenants."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seconds", type=float, default=20.0, help="How long the load runs.")
        parser.add_argument("--concurrency", type=int, default=8, help="Concurrent clients (keep-alive connections).")
        parser.add_argument("--tenants", type=int, default=5, help="Tenants loaded, and spread over by the mix.")
        parser.add_argument("--clients-per-tenant", type=int, default=1000)
        parser.add_argument("--transactions-per-tenant", type=int, default=2000)
        parser.add_argument("--max-requests", type=int, default=100_000, help="Stop after this many requests.")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (gthread, 4 threads).")
        parser.add_argument("--json", dest="json_path")
        parser.add_argument("--keep", action="store_true", help="Keep the load-test database afterwards.")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("seconds", "concurrency", "tenants", "max_requests", "workers"):
            if options[name] <= 0:
                raise CommandError(f"--{name.replace('_', '-')} must be positive")
        results = run_loadtest(options, log=lambda message: self.stderr.write(message))
        self.stdout.write(render(results))
        if options["json_path"]:
            Path(options["json_path"]).write_text(json.dumps(results, indent=2, default=str))


def _set_config_cost_us(bench: BenchDatabase) -> dict[str, Any]:
    """What one folded set_config adds to a transaction, measured as the runtime role."""
    from bench import sql_level
    from bench.loader import LoadedData

    conn = sql_level.connect(bench.runtime_conninfo())
    try:
        measured = sql_level.measure(
            ["SELECT 1"], tenant_id=LoadedData.tenant_id(1), runtime=conn, bypass=conn, repeat=200
        )
    finally:
        conn.close()
    cost: dict[str, Any] = measured["added_us_set_config"]
    return cost


def run_loadtest(options: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    import datetime

    from bench import database, loader
    from bench.endpoints import EndpointHarness, debug_off
    from bench.http_load import Gunicorn, Request, json_body, percentile, run_load
    from bench.loader import LAST_NAMES, LoadedData
    from bench.queries import Period
    from bench.run import _tenant, machine

    results: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            **{k: options[k] for k in ("seconds", "concurrency", "tenants", "workers")},
        }
    }
    log("creating the load-test database ...")
    bench = database.create()
    harness = server = None
    try:
        loader.load(
            bench,
            tenants=options["tenants"],
            clients_per_tenant=options["clients_per_tenant"],
            transactions_per_tenant=options["transactions_per_tenant"],
            log=log,
        )
        debug_off()
        from tenants.auth.supabase import issue_development_token

        tenants = []
        for index in range(1, options["tenants"] + 1):
            tenant = _tenant(LoadedData.tenant_id(index))
            token = issue_development_token(
                user_id=uuid.UUID(LoadedData.owner_id(index)), tenant_id=tenant.id, minutes=240
            )
            tenants.append((tenant, Period.last_year(tenant.timezone), token))

        # What each kind of request sends: statements, transactions, set_config per transaction.
        tenant, period, _token = tenants[0]
        harness = EndpointHarness(bench, tenant_id=str(tenant.id), user_id=LoadedData.owner_id(1))
        mix: list[tuple[str, int, str, str]] = []
        per_kind: dict[str, dict[str, Any]] = {}
        for kind, weight, method, template in MIX:
            path = template.format(term="garcia", start=period.start, end=period.end)
            ok, reason = harness.available(path)
            if ok:
                body = (
                    {"first_name": "Probe", "last_name": "Client", "email": "probe@bench.test"}
                    if method == "POST"
                    else None
                )
                response, capture = harness.capture(path, method=method.lower(), data=body)
                ok = response.status_code in (200, 201)
                reason = "" if ok else f"answered {response.status_code}"
            if not ok:
                per_kind[kind] = {"available": False, "reason": reason}
                continue
            per_kind[kind] = {
                "available": True,
                "statements": capture.statements,
                "transactions": len(capture.transactions),
                "set_config_per_transaction": capture.context_statements(),
            }
            mix.append((kind, weight, method, template))
        if not mix:
            raise CommandError("no endpoint of the mix is available")
        harness.restore()
        cost = _set_config_cost_us(bench)
        results["set_config_us"] = cost

        counter = iter(range(10**9))

        def next_request(rng: random.Random) -> Request:
            kind, _weight, method, template = rng.choices(mix, weights=[m[1] for m in mix])[0]
            tenant, period, token = rng.choice(tenants)
            headers = {"Authorization": f"Bearer {token}", "X-Tenant-ID": str(tenant.id)}
            path = template.format(term=rng.choice(LAST_NAMES).lower(), start=period.start, end=period.end)
            body = None
            if method == "POST":
                n = next(counter)
                body = json_body({"first_name": "Load", "last_name": f"Test{n}", "email": f"load{n}@bench.test"})
                headers["Content-Type"] = "application/json"
            return Request(method, path, headers, body=body, kind=kind)

        log(
            f"starting gunicorn and running the mix for {options['seconds']}s with {options['concurrency']} clients ..."
        )
        server = Gunicorn(bench, isolation=True, workers=options["workers"])
        first = tenants[0]
        status = server.wait_ready(
            "/api/v1/clients/", {"Authorization": f"Bearer {first[2]}", "X-Tenant-ID": str(first[0].id)}
        )
        if status != 200:
            raise CommandError(f"gunicorn answered {status} to the client list")
        run_load(
            server.port, next_request, concurrency=options["concurrency"], seconds=1.0, max_requests=500
        )  # warm-up
        load_before = [round(x, 2) for x in os.getloadavg()]
        result = run_load(
            server.port,
            next_request,
            concurrency=options["concurrency"],
            seconds=options["seconds"],
            max_requests=options["max_requests"],
        )
        results["meta"]["loadavg"] = {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]}
        mean_ms = sum(result.latencies_ms) / len(result.latencies_ms) if result.latencies_ms else 0
        # Share of request time spent on the context: transactions per request x one folded set_config.
        total_weight = sum(m[1] for m in mix)
        transactions = sum(per_kind[m[0]]["transactions"] * m[1] for m in mix) / total_weight
        share = (transactions * (cost["median"] or 0) / 1000) / mean_ms if mean_ms else None
        results.update(
            requests=result.requests,
            errors=result.errors,
            error_samples=result.error_samples,
            seconds=round(result.seconds, 2),
            rps=round(result.rps, 1),
            latency_ms={
                "mean": round(mean_ms, 2),
                "p50": percentile(result.latencies_ms, 50),
                "p95": percentile(result.latencies_ms, 95),
                "p99": percentile(result.latencies_ms, 99),
            },
            by_kind={
                kind: {
                    **per_kind[kind],
                    "requests": len(values),
                    "p50": percentile(values, 50),
                    "p95": percentile(values, 95),
                    "p99": percentile(values, 99),
                }
                for kind, values in result.by_kind.items()
            },
            unavailable={k: v for k, v in per_kind.items() if not v["available"]},
            context={
                "transactions_per_request": round(transactions, 2),
                "set_config_per_transaction_max": max(
                    max(v["set_config_per_transaction"], default=0) for v in per_kind.values() if v["available"]
                ),
                "share_of_request_time": round(share, 4) if share is not None else None,
            },
        )
    finally:
        if server is not None:
            server.stop()
        if harness is not None:
            harness.restore()
        database.drop(bench, keep=options["keep"])
    return results


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    lines = [
        f"BrandVX load test - {meta['date']} - {meta['tenants']} tenants, {meta['concurrency']} clients, "
        f"{meta['seconds']}s, gunicorn {meta['workers']} x gthread 4 on 127.0.0.1 - {m['cpu']} ({m['cores']} cores)",
        f"load average before/after: {meta.get('loadavg', {}).get('before')} / {meta.get('loadavg', {}).get('after')} "
        f"({m['cores']} cores: above that, the machine is shared and figures are low)",
        f"requests {results['requests']:,} in {results['seconds']}s = {results['rps']} req/s; errors {results['errors']}"
        + (f" (e.g. {', '.join(results['error_samples'][:3])})" if results["errors"] else ""),
        f"latency ms: mean {results['latency_ms']['mean']}  p50 {results['latency_ms']['p50']}  "
        f"p95 {results['latency_ms']['p95']}  p99 {results['latency_ms']['p99']}",
        f"   {'kind':<16}{'requests':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'statements':>12}{'transactions':>14}  set_config/tx",
    ]
    for kind, k in results["by_kind"].items():
        lines.append(
            f"   {kind:<16}{k['requests']:>9}{k['p50']:>9}{k['p95']:>9}{k['p99']:>9}{k['statements']:>12}"
            f"{k['transactions']:>14}  {k['set_config_per_transaction']}"
        )
    for kind, k in results.get("unavailable", {}).items():
        lines.append(f"   {kind:<16}not available: {k['reason']}")
    c = results["context"]
    cost = results["set_config_us"]
    lines.append(
        f"tenant context: {c['transactions_per_request']} transactions per request, at most "
        f"{c['set_config_per_transaction_max']} set_config per transaction (folded, no extra round trip), "
        f"{cost['median']} us each -> {100 * (c['share_of_request_time'] or 0):.2f}% of request time"
    )
    return "\n".join(lines)
