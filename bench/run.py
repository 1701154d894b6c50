"""The benchmark run: create and load a database, measure sections 1-6, report, drop."""

from __future__ import annotations

import datetime
import functools
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench import background, database, loader, sql_level
from bench.endpoints import Capture, EndpointHarness, debug_off, is_context_statement, replay_runner, strip_context
from bench.queries import HOT_QUERIES, HotQuery, Period, builtin_sql, endpoint_path, from_function
from bench.timing import interleaved, pair_ratios, summary

if TYPE_CHECKING:
    import psycopg
    from django.test.client import _MonkeyPatchedWSGIResponse

    from bench.database import BenchDatabase
    from bench.loader import LoadedData
    from tenants.models import Tenant

MEASURED_TENANT = 1  # every tenant holds the same amount of data; this one is measured


@dataclass
class Options:
    scale: str = "small"
    tenants: int | None = None
    clients_per_tenant: int | None = None
    transactions_per_tenant: int | None = None
    repeat: int | None = None
    concurrency: int = 8
    throughput_seconds: float | None = None
    csv_rows: int = 500
    keep: bool = False
    database: str | None = None  # reuse a database kept by an earlier run (--keep)
    peers: bool = True  # the peers section (bench/peers/)
    baseline_rps: float | None = None  # client-list req/s before a change (--baseline-rps)

    def resolved(self) -> dict[str, Any]:
        scale = loader.SCALES[self.scale]
        return {
            "tenants": self.tenants or scale["tenants"],
            "clients_per_tenant": self.clients_per_tenant or scale["clients_per_tenant"],
            "transactions_per_tenant": self.transactions_per_tenant or scale["transactions_per_tenant"],
            "repeat": self.repeat or scale["repeat"],
        }


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run(options: Options, log: Callable[[str], None]) -> dict[str, Any]:
    import psycopg
    from django.conf import settings

    sizes = options.resolved()
    repeat = sizes["repeat"]
    started = datetime.datetime.now(datetime.UTC)
    results: dict[str, Any] = {
        "meta": {
            "date": started.isoformat(timespec="seconds"),
            "scale": options.scale,
            **sizes,
            "machine": machine(),
            "baseline_rps": options.baseline_rps,
        }
    }
    if options.database:
        log(f"reusing database {options.database} ...")
        bench = database.attach(options.database, keep=options.keep)
    else:
        log("creating the benchmark database and migrating ...")
        bench = database.create()
    results["meta"]["database"] = bench.name
    harness = None
    connections_opened: list[psycopg.Connection] = []
    try:
        with psycopg.connect(**bench.owner_conninfo(), autocommit=True) as conn:
            results["meta"]["postgres"] = database.fetch_value(conn.execute("SHOW server_version"))
        host = settings.DATABASES["owner"].get("HOST") or "local socket"
        results["meta"]["connection"] = "unix socket" if str(host).startswith("/") else f"TCP {host}"
        if not bench.bypass_available:
            results["meta"]["baseline"] = bench.bypass_error
        log(
            f"{'checking' if options.database else 'loading'} {sizes['tenants']:,} tenants x {sizes['clients_per_tenant']:,} clients x "
            f"{sizes['transactions_per_tenant']:,} transactions (set-based SQL) ..."
        )
        load = loader.describe if options.database else loader.load
        kwargs = {} if options.database else {"log": log}
        data = load(
            bench,
            tenants=sizes["tenants"],
            clients_per_tenant=sizes["clients_per_tenant"],
            transactions_per_tenant=sizes["transactions_per_tenant"],
            **kwargs,
        )
        # Loading can take minutes: connections opened before it may have been closed since.
        from django.db import connections

        for wrapper in connections.all():
            wrapper.close()
        results["data"] = {
            "rows": data.rows,
            "seconds": data.seconds,
            "load_seconds": round(sum(data.seconds.values()), 1),
        }

        debug_off()
        # Other work on the machine is the main source of noise: say how busy it was.
        results["meta"]["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
        tenant_id = data.tenant_id(MEASURED_TENANT)
        tenant = _tenant(tenant_id)
        period = Period.last_year(tenant.timezone)
        results["meta"]["measured_tenant"] = {
            "id": tenant_id,
            "timezone": tenant.timezone,
            "period": [period.start.isoformat(), period.end.isoformat()],
        }
        harness = EndpointHarness(bench, tenant_id=tenant_id, user_id=data.owner_id(MEASURED_TENANT))
        runtime = sql_level.connect(bench.runtime_conninfo())
        connections_opened.append(runtime)
        bypass = None
        if bench.bypass_available:
            bypass = sql_level.connect(bench.bypass_conninfo())
            connections_opened.append(bypass)

        log("capturing what each endpoint sends (statements, transactions, context settings) ...")
        endpoints = _capture_endpoints(harness, period)
        results["round_trips"] = {name: {k: v for k, v in e.items() if k != "capture"} for name, e in endpoints.items()}

        hot = _hot_queries(endpoints, tenant=tenant, tenant_id=tenant_id, period=period, conn=runtime)
        log("section 1: SQL level, runtime role under RLS vs BYPASSRLS ...")
        results["sql"] = {}
        for query in hot:
            entry = {"source": query.source, "statements": len(query.statements), "note": query.note}
            try:
                entry.update(
                    sql_level.measure(
                        query.statements, tenant_id=tenant_id, runtime=runtime, bypass=bypass, repeat=repeat
                    )
                )
            except psycopg.Error as exc:
                runtime.rollback()
                if bypass is not None:
                    bypass.rollback()
                entry.update(available=False, reason=f"query failed: {exc.diag.message_primary or exc}")
            results["sql"][query.name] = entry

        log("section 1b: the policy forms (sub-select for one node, bare for Citus) ...")
        with psycopg.connect(**bench.owner_conninfo(), autocommit=True) as owner:
            results["policy_forms"] = sql_level.policy_forms(
                owner,
                runtime,
                {q.name: q.statements for q in hot if q.name in results["sql"] and "ms" in results["sql"][q.name]},
                tenant_id=tenant_id,
                repeat=repeat,
            )

        log("sections 2-3: endpoints in-process, isolation on vs off, vs their bare SQL ...")
        results["endpoints"] = _measure_endpoints(harness, endpoints, runtime=runtime, repeat=repeat)
        results["me"] = _measure_me(harness, repeat=repeat)

        log("section 5: throughput through gunicorn on loopback ...")
        results["throughput"] = _throughput(bench, harness, endpoints, options, repeat=repeat)

        if options.peers:
            log("section 7: peers (django-tenants, django-rls, plain DRF), the same client list ...")
            results["peers"] = _peers(bench, harness, endpoints, data, options, sizes, repeat=repeat, log=log)

        log("section 6: background work ...")
        # Tenants other than the measured one, picked at random among those without drafts: a
        # reused database keeps the drafts of earlier runs, and such a tenant makes none.
        import random

        with psycopg.connect(**bench.owner_conninfo(), autocommit=True) as owner:
            drafted = {str(row[0]) for row in owner.execute("SELECT DISTINCT tenant_id FROM campaigns_messagedraft")}
        candidates = [i for i in range(2, sizes["tenants"] + 1) if data.tenant_id(i) not in drafted]
        picked = random.sample(candidates, min(3, len(candidates)))
        others = [_tenant(data.tenant_id(i)) for i in picked]
        runs = max(1, min(3, len(others)))
        results["background"] = {
            "birthday_drafts": _guarded(lambda: background.birthday_drafts_per_second(others, repeat=runs)),
            "csv_import": _guarded(lambda: background.csv_rows_per_second(others, rows=options.csv_rows, repeat=runs)),
        }

        results["meta"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        log("EXPLAIN (ANALYZE, BUFFERS) of the hot queries ...")
        results["explain"] = {}
        for query in hot:
            plans = []
            for statement in query.statements:
                try:
                    plans.append({"sql": statement, **sql_level.explain(runtime, statement, tenant_id=tenant_id)})
                except psycopg.Error as exc:
                    runtime.rollback()
                    plans.append({"sql": statement, "error": str(exc)})
            results["explain"][query.name] = plans
    finally:
        if harness is not None:
            harness.restore()
        for conn in connections_opened:
            conn.close()
        log("dropping the benchmark database and role ..." if not options.keep else f"keeping database {bench.name}")
        database.drop(bench, keep=options.keep)
    results["failed"] = [
        f"background.{name}: {entry['reason']}"
        for name, entry in results.get("background", {}).items()
        if entry.get("failed")
    ]
    if results.get("peers", {}).get("failed"):
        results["failed"].append(f"peers: {results['peers']['reason']}")
    results["meta"]["seconds"] = round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 1)
    return results


def _guarded(function: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return function()
    except background.WorkFailed as exc:
        # The work did not succeed: no figure, and the command fails after reporting.
        return {"available": False, "failed": True, "reason": f"FAILED: {exc}"[:2000]}
    except Exception as exc:  # noqa: BLE001 - an app's half-built service must not sink the run
        return {"available": False, "reason": f"failed: {type(exc).__name__}: {str(exc)[:200]}"}


def _peers(
    bench: BenchDatabase,
    harness: EndpointHarness,
    endpoints: dict[str, dict[str, Any]],
    data: LoadedData,
    options: Options,
    sizes: dict[str, Any],
    *,
    repeat: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from bench.peers.measure import section

    endpoint = endpoints["client_list"]
    if not endpoint.get("available"):
        return {"available": False, "reason": endpoint.get("reason", "")}
    try:
        return section(
            bench,
            tenant_ids=[data.tenant_id(i) for i in range(1, sizes["tenants"] + 1)],
            measured_tenant_id=harness.tenant_id,
            token=harness.token,
            project_path=endpoint["path"],
            concurrency=options.concurrency,
            burst=options.throughput_seconds or (2.0 if options.scale == "small" else 4.0),
            pairs=max(2, min(6, repeat // 5)),
            repeat=repeat,
            log=log,
        )
    except Exception as exc:  # noqa: BLE001 - reported as the section's failure, the run goes on
        return {"available": False, "failed": True, "reason": f"FAILED: {type(exc).__name__}: {str(exc)[:1500]}"}


def _tenant(tenant_id: str) -> Tenant:
    from tenants.context import tenant_context
    from tenants.models import Tenant

    with tenant_context(tenant_id, role="owner_admin"):
        return Tenant.objects.get(id=tenant_id)


def _capture_endpoints(harness: EndpointHarness, period: Period) -> dict[str, dict[str, Any]]:
    endpoints: dict[str, dict[str, Any]] = {}
    for name, template, _function in HOT_QUERIES:
        path = endpoint_path(template, period)
        ok, reason = harness.available(path)
        entry: dict[str, Any] = {"path": path, "available": ok}
        response: _MonkeyPatchedWSGIResponse | None = None
        capture: Capture | None = None
        if ok:
            try:
                response, capture = harness.capture(path)
            except Exception as exc:  # noqa: BLE001 - a half-built view must not sink the run
                response, capture = None, None
                ok, reason = False, f"endpoint raised {type(exc).__name__}: {str(exc)[:160]}"
        # Both are set exactly when ok is still true (the capture succeeded).
        if ok and response is not None and capture is not None:
            if response.status_code != 200:
                ok = False
                reason = f"endpoint answered {response.status_code}: {response.content[:160].decode(errors='replace')}"
            else:
                per_transaction = capture.context_statements()
                entry.update(
                    statements=capture.statements,
                    transactions=len(capture.transactions),
                    # psycopg sends BEGIN and COMMIT as round trips of their own
                    round_trips=capture.statements + 2 * len(capture.transactions),
                    context_statements_per_transaction=per_transaction,
                    set_config_per_transaction_max=max(per_transaction, default=0),
                    extra_round_trips_for_context=0,  # folded: the settings ride on the first statement
                    executemany=capture.executemany,
                    autocommit_statements=capture.autocommit_statements,
                    response_bytes=len(response.content),
                    capture=capture,
                )
        if not ok:
            entry.update(available=False, reason=reason)
        endpoints[name] = entry
    return endpoints


def _hot_queries(
    endpoints: dict[str, dict[str, Any]],
    *,
    tenant: Tenant,
    tenant_id: str,
    period: Period,
    conn: psycopg.Connection[Any],
) -> list[HotQuery]:
    queries = []
    for name, _template, function in HOT_QUERIES:
        endpoint = endpoints[name]
        query = HotQuery(name=name, endpoint=endpoint["path"])
        if endpoint.get("available"):
            # The view's statements: the request's transaction (ATOMIC_REQUESTS) after the
            # membership lookup, its first statement (which carries the one context statement).
            # On Citus the context is a statement of its own, left out.
            view = [s for s in endpoint["capture"].transactions[-1] if not is_context_statement(s)]
            query.statements = [strip_context(s) for s in view[1:]]
            query.source = "endpoint"
        else:
            built = None
            if function is not None:
                try:
                    built = from_function(*function, tenant=tenant, period=period, conn=conn)
                except Exception as exc:  # noqa: BLE001
                    query.note = f"{function[0]}.{function[1]} failed: {type(exc).__name__}"
            if built and function is not None:
                query.statements, query.source = built, f"{function[0]}.{function[1]}"
            else:
                query.statements, query.source = builtin_sql(name, tenant_id, period), "builtin"
        queries.append(query)
        if name == "client_list" and len(query.statements) > 1:
            # The 50-row list statement alone (without the tag and external-id prefetches):
            # the figure issue 8's reference numbers are about.
            queries.append(
                HotQuery(
                    name="client_list_statement",
                    endpoint=query.endpoint,
                    source=query.source,
                    statements=query.statements[:1],
                    note="first statement of client_list only",
                )
            )
    return queries


def _measure_endpoints(
    harness: EndpointHarness, endpoints: dict[str, dict[str, Any]], *, runtime: psycopg.Connection[Any], repeat: int
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, endpoint in endpoints.items():
        if not endpoint.get("available"):
            results[name] = {"available": False, "reason": endpoint.get("reason", "")}
            continue
        path = endpoint["path"]
        variants: dict[str, Callable[[], object]] = {
            "isolated": functools.partial(harness.get, path, isolation=True),
            "bare_sql": replay_runner(runtime, endpoint["capture"].transactions),
        }
        entry: dict[str, Any] = {"available": True, "path": path}
        if harness.wrapper_off is not None:
            variants["not_isolated"] = functools.partial(harness.get, path, isolation=False)
            on, off = harness.get(path), harness.get(path, isolation=False)
            entry["baseline_status"] = off.status_code
            # Equal bodies: the view filters by tenant itself too (the second belt), so the
            # baseline does the same work. Different: the baseline measured other work.
            entry["same_response"] = on.content == off.content
        try:
            times = interleaved(variants, repeat=repeat, warmup=3)
        except Exception as exc:  # noqa: BLE001
            results[name] = {"available": False, "reason": f"measuring failed: {type(exc).__name__}: {str(exc)[:160]}"}
            harness.use(True)
            continue
        entry["ms"] = {k: summary(v) for k, v in times.items()}
        entry["endpoint_over_bare_sql"] = summary(pair_ratios(times["isolated"], times["bare_sql"]))
        if "not_isolated" in times:
            entry["isolated_over_not_isolated"] = summary(pair_ratios(times["isolated"], times["not_isolated"]))
        results[name] = entry
    return results


def _measure_me(harness: EndpointHarness, *, repeat: int) -> dict[str, Any]:
    """Authenticated GET /api/v1/me/ in-process: the floor every request stands on (token,
    membership, context, DRF), with nothing of its own to query. Each run is the mean of 10."""
    response = harness.get("/api/v1/me/")
    if response.status_code != 200:
        return {"available": False, "reason": f"answered {response.status_code}"}
    times = interleaved({"me": lambda: harness.get("/api/v1/me/")}, repeat=repeat, inner=10, warmup=3)
    return {"available": True, "ms": summary(times["me"])}


def _throughput(
    bench: BenchDatabase,
    harness: EndpointHarness,
    endpoints: dict[str, dict[str, Any]],
    options: Options,
    *,
    repeat: int,
) -> dict[str, Any]:
    from bench.http_load import Gunicorn, Request, run_load

    endpoint = endpoints["client_list"]
    if not endpoint.get("available"):
        return {"available": False, "reason": endpoint.get("reason", "")}
    if not bench.bypass_available:
        return {"available": False, "reason": bench.bypass_error}
    headers = {"Authorization": f"Bearer {harness.token}", "X-Tenant-ID": harness.tenant_id}
    request = Request("GET", endpoint["path"], headers, kind="client_list")
    burst = options.throughput_seconds or (2.0 if options.scale == "small" else 4.0)
    pairs = max(2, min(8, repeat // 5))
    servers = {"isolated": Gunicorn(bench, isolation=True), "not_isolated": Gunicorn(bench, isolation=False)}
    try:
        for name, server in servers.items():
            status = server.wait_ready(request.path, headers)
            if status != 200:
                return {"available": False, "reason": f"gunicorn ({name}) answered {status}"}
        rps: dict[str, list[float]] = {name: [] for name in servers}
        errors = dict.fromkeys(servers, 0)
        p50: dict[str, list[float]] = {name: [] for name in servers}
        from bench.http_load import percentile

        for server in servers.values():  # warm-up: workers connect, caches fill
            run_load(server.port, lambda rng: request, concurrency=options.concurrency, seconds=1.0, max_requests=2000)
        for index in range(pairs):
            order = list(servers) if index % 2 == 0 else list(reversed(servers))
            for name in order:
                result = run_load(
                    servers[name].port,
                    lambda rng: request,
                    concurrency=options.concurrency,
                    seconds=burst,
                    max_requests=100_000,
                )
                rps[name].append(result.rps)
                errors[name] += result.errors
                median = percentile(result.latencies_ms, 50)
                if median is not None:  # None only for a burst that completed no request
                    p50[name].append(median)
        return {
            "available": True,
            "path": request.path,
            "concurrency": options.concurrency,
            "burst_seconds": burst,
            "pairs": pairs,
            "workers": "2 gthread x 4 threads, keep-alive",
            "rps": {name: summary(values, 1) for name, values in rps.items()},
            "p50_ms": {name: summary(values, 2) for name, values in p50.items()},
            "errors": errors,
            "ratio": summary(pair_ratios(rps["isolated"], rps["not_isolated"])),
        }
    finally:
        for server in servers.values():
            server.stop()
