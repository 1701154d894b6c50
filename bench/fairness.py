"""`manage.py benchmark_fairness` (issue 28): does one tenant's load leave the others their share?

Background: one Celery worker process of concurrency 2 on every queue. Tenant A queues
`jobs` birthday batches of `items` clients each; once the worker is busy with them, tenant B
queues a 10-row CSV import and a birthday batch of 20 clients. Reported per round: B's queue
wait (queued -> started) and completion (queued -> finished) for each of its jobs, and A's
total (first queued -> last finished). Round "before": TENANT_FAIR_SCHEDULING=0 (one queue,
each job whole in one task, no cap); round "after": queues by urgency, chunks, cap 1.

HTTP: gunicorn (bench.http_load) with the tenant limits in force; tenant B reads its client
list in a closed loop, alone and then while tenant A sends 5x its sustained rate (and, for
contrast, the same with the limiter switched off). B's p50/p99 are reported for each.

Limiter cost: the median time of one tenants.auth.ratelimit.hit() (one Redis round trip), and the
in-process client list with the limiter on and off, interleaved.
"""

from __future__ import annotations

import datetime
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class FairnessOptions:
    jobs: int = 6
    items: int = 20_000
    chunk: int = 1_000
    http_seconds: float = 10.0
    caps: tuple[int, ...] = (1, 2)
    # The HTTP section's limits: the default rate per 10 s instead of per minute, so a phase
    # of seconds sees A limited (the same 10 requests/s sustained).
    http_rate: str = "100/10s"
    http_burst: str = "30/1s"
    background: bool = True
    http: bool = True
    log: Any = print


@dataclass
class World:
    tenant_a: Any
    owner_a: Any
    tenant_b: Any
    owner_b: Any
    windows: list[int] = field(default_factory=list)


def build_world(options: FairnessOptions) -> World:
    from clients.models import Client
    from tenants.context import tenant_context
    from tenants.models import User
    from tenants.services import tenant_create

    owners = [User.objects.create(username=f"fair-{n}-{uuid.uuid4().hex[:6]}") for n in range(2)]
    tenant_a = tenant_create(name="Fairness A", owner_sub=owners[0].id, timezone="UTC")
    tenant_b = tenant_create(name="Fairness B", owner_sub=owners[1].id, timezone="UTC")
    world = World(tenant_a, owners[0], tenant_b, owners[1], windows=list(range(1, options.jobs + 1)))
    started = time.monotonic()
    with tenant_context(tenant_a.id, role="system"):
        for month in world.windows:  # one window (a month, days 1-28) per job: no overlaps
            Client.objects.bulk_create(
                [
                    Client(
                        tenant=tenant_a,
                        first_name=f"A{n}",
                        last_name=f"M{month}",
                        email=f"a{n}.m{month}@fair.test",
                        birthday_month=month,
                        birthday_day=1 + n % 28,
                        email_consent=True,
                    )
                    for n in range(options.items)
                ],
                batch_size=5000,
            )
    with tenant_context(tenant_b.id, role="system"):
        Client.objects.bulk_create(
            [
                Client(
                    tenant=tenant_b,
                    first_name=f"B{n}",
                    last_name="Small",
                    email=f"b{n}@fair.test",
                    birthday_month=1,
                    birthday_day=1 + n % 28,
                    email_consent=True,
                )
                for n in range(20)
            ]
        )
    options.log(
        f"   loaded {options.jobs} x {options.items} clients for A, 20 for B in {time.monotonic() - started:.1f}s"
    )
    return world


# --- background ---------------------------------------------------------------------------------


def _start_worker(*, fair: bool, chunk: int, cap: int, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_owner_url(),
        REDIS_URL=str(settings.REDIS_URL),
        DJANGO_SETTINGS_MODULE="bench.settings",
        TENANT_FAIR_SCHEDULING="1" if fair else "0",
        JOB_CHUNK_SIZE=str(chunk),
        TENANT_MAX_RUNNING_TASKS=str(cap),
        TENANT_TASK_RETRY_MS="500",
        CELERY_TASK_DEFAULT_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        BRANDVX_BENCH_SERVER="1",
        LOG_LEVEL="WARNING",
    )
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "brandvx", "worker", "-Q", ",".join(settings.BRANDVX_QUEUES)]
        + ["--pool", "prefork", "--concurrency", "2", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
        + ["-n", f"fairness-{os.getpid()}@%h"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _owner_url() -> str:
    from urllib.parse import quote

    db = settings.DATABASES["owner"]
    auth = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db.get("PASSWORD") else "")
    host = db.get("HOST") or ""
    if host.startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={quote(host)}"
    return f"postgresql://{auth}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _jobs(tenant_id, job_ids) -> list[dict]:
    from tenants.context import tenant_context
    from tenants.models import BackgroundJob

    with tenant_context(tenant_id, role="system"):
        rows = BackgroundJob.objects.filter(id__in=job_ids).values(
            "id", "kind", "status", "created_at", "started_at", "finished_at", "progress_done", "counts"
        )
        return sorted(rows, key=lambda row: job_ids.index(row["id"]))


def _reset(world: World) -> None:
    from campaigns.models import MessageDraft
    from clients.models import Client
    from tenants.context import tenant_context

    for tenant in (world.tenant_a, world.tenant_b):
        with tenant_context(tenant.id, role="system"):
            MessageDraft.objects.all().delete()
    with tenant_context(world.tenant_b.id, role="system"):
        Client.objects.filter(last_name="Imported").delete()


def background_round(world: World, options: FairnessOptions, *, fair: bool, cap: int, log_path: Path) -> dict:
    from brandvx.celery import app
    from campaigns.services import birthday_batch_start
    from clients.services import client_import_csv_start
    from tenants.context import tenant_context

    _reset(world)
    app.control.purge()
    # This process publishes as the round's settings route (no routes before issue 28).
    routes = app.conf.task_routes
    app.conf.task_routes = settings.CELERY_TASK_ROUTES if fair else {}
    worker = _start_worker(fair=fair, chunk=options.chunk, cap=cap, log_path=log_path)
    try:
        _wait_for_worker()
        a_ids = []
        with tenant_context(world.tenant_a.id, role="owner_admin"):
            for month in world.windows:
                job = birthday_batch_start(
                    tenant=world.tenant_a,
                    acting_user=None,
                    days_ahead=27,
                    start=datetime.date(2026, month, 1),
                    channel="email",
                )
                a_ids.append(job.id)
        deadline = time.monotonic() + 120
        while not any(row["progress_done"] for row in _jobs(world.tenant_a.id, a_ids)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start A's jobs; see {log_path}")
            time.sleep(0.05)
        csv = "first_name,last_name,email\n" + "".join(f"New{n},Imported,new{n}.{fair}@fair.test\n" for n in range(10))
        with tenant_context(world.tenant_b.id, role="owner_admin"):
            b_import = client_import_csv_start(tenant=world.tenant_b, data=csv.encode(), filename="small.csv")
            b_batch = birthday_batch_start(
                tenant=world.tenant_b, acting_user=None, days_ahead=27, start=datetime.date(2026, 1, 1), channel="email"
            )
        b_ids = [b_import.id, b_batch.id]
        deadline = time.monotonic() + 3600
        while True:
            a_rows, b_rows = _jobs(world.tenant_a.id, a_ids), _jobs(world.tenant_b.id, b_ids)
            if all(row["status"] not in ("queued", "running") for row in a_rows + b_rows):
                break
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"the round did not finish; see {log_path}")
            time.sleep(0.2)
    finally:
        _stop(worker)
        app.conf.task_routes = routes
    failed = [row for row in a_rows + b_rows if row["status"] != "succeeded"]
    if failed:
        raise RuntimeError(f"jobs did not succeed: {failed}")

    def seconds(a, b):
        return round((b - a).total_seconds(), 2)

    b_jobs = [
        {
            "kind": row["kind"],
            "queue_wait_s": seconds(row["created_at"], row["started_at"]),
            "completion_s": seconds(row["created_at"], row["finished_at"]),
            "counts": row["counts"],
        }
        for row in b_rows
    ]
    a_total = seconds(min(r["created_at"] for r in a_rows), max(r["finished_at"] for r in a_rows))
    a_drafts = sum(r["counts"].get("created", 0) for r in a_rows)
    return {"fair": fair, "cap": cap if fair else None, "b_jobs": b_jobs, "a_total_s": a_total, "a_drafts": a_drafts}


def _wait_for_worker() -> None:
    from brandvx.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if any(f"fairness-{os.getpid()}@" in name for reply in replies for name in reply):
            return
    raise RuntimeError("the worker did not come up within 60 s")


# --- HTTP ---------------------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float | None:
    from bench.http_load import percentile

    return percentile(values, p)


def http_phases(world: World, bench: Any, options: FairnessOptions) -> dict:
    import http.client

    from bench.http_load import Gunicorn
    from tenants.auth.ratelimit import parse_rate
    from tenants.auth.supabase import issue_development_token

    def headers(user, tenant):
        token = issue_development_token(user_id=user.id, tenant_id=tenant.id, minutes=120)
        return {"Authorization": f"Bearer {token}", "X-Tenant-ID": str(tenant.id)}

    a_headers, b_headers = headers(world.owner_a, world.tenant_a), headers(world.owner_b, world.tenant_b)
    rate = parse_rate(options.http_rate)
    a_target_rps = 5 * rate.amount / rate.get_expiry()
    results: dict[str, Any] = {
        "tenant_rate": options.http_rate,
        "burst": options.http_burst,
        "a_target_rps": a_target_rps,
    }

    def b_reader(port: int, start_at: float, stop_at: float, latencies: list[float]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < start_at:  # warm-up: B's connection and worker threads
            conn.request("GET", "/api/v1/clients/", headers=b_headers)
            conn.getresponse().read()
            time.sleep(0.2)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            conn.request("GET", "/api/v1/clients/", headers=b_headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"B's client list answered {response.status}")
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.2)  # B is a person's browser, not a script: a few pages a second at most

    def a_flood(port: int, stop_at: float, statuses: dict[int, int], threads: int) -> None:
        interval = threads / a_target_rps
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        next_at = time.perf_counter()
        while time.perf_counter() < stop_at:
            conn.request("GET", "/api/v1/clients/", headers=a_headers)
            response = conn.getresponse()
            response.read()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))

    lock = threading.Lock()

    def phase(port: int, *, flood: bool) -> dict:
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        # A floods for one whole window first (its limit is reached, as in steady state);
        # B measures after that.
        start_at = time.perf_counter() + rate.get_expiry()
        stop_at = start_at + options.http_seconds
        threads = [threading.Thread(target=b_reader, args=(port, start_at, stop_at, latencies))]
        if flood:
            # Enough connections that A reaches its target even when each answer is slow.
            threads += [threading.Thread(target=a_flood, args=(port, stop_at, statuses, 16)) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent = sum(statuses.values())
        return {
            "b_requests": len(latencies),
            "b_p50_ms": _pct(latencies, 50),
            "b_p99_ms": _pct(latencies, 99),
            "a_requests_per_s": round(sent / (stop_at - start_at + rate.get_expiry()), 1) if flood else 0,
            "a_statuses": statuses,
        }

    for limited in (True, False):
        previous = os.environ.get("TENANT_RATE_LIMITS_ENABLED")
        os.environ["TENANT_RATE_LIMITS_ENABLED"] = "1" if limited else "0"
        # The benchmark server's default rates would never refuse: give it the section's.
        os.environ.update(
            TENANT_API_RATE=options.http_rate,
            TENANT_API_BURST=options.http_burst,
            TENANT_USER_API_RATE=options.http_rate,
        )
        server = Gunicorn(bench)
        try:
            status = server.wait_ready("/api/v1/clients/", b_headers)
            if status != 200:
                raise RuntimeError(f"gunicorn answered {status} to B's client list")
            key = "limits_on" if limited else "limits_off"
            results[key] = {"b_alone": phase(server.port, flood=False)}
            results[key]["b_with_a_at_5x"] = phase(server.port, flood=True)
        finally:
            server.stop()
            if previous is None:
                os.environ.pop("TENANT_RATE_LIMITS_ENABLED", None)
            else:
                os.environ["TENANT_RATE_LIMITS_ENABLED"] = previous
    return results


# --- the limiter's own cost ------------------------------------------------------------------------


def limiter_cost(world: World, *, rounds: int = 300) -> dict:
    from django.test import Client as DjangoClient
    from django.test.utils import override_settings

    from tenants.auth import ratelimit
    from tenants.auth.supabase import issue_development_token

    hits = []
    with override_settings(TENANT_API_RATE="100000000/60s", TENANT_API_BURST="100000000/1s"):
        with override_settings(TENANT_USER_API_RATE="100000000/60s"):
            for _ in range(50):
                ratelimit.hit(tenant_id=str(world.tenant_b.id), user_id="warm")
            for _ in range(2000):
                started = time.perf_counter()
                ratelimit.hit(tenant_id=str(world.tenant_b.id), user_id="cost")
                hits.append((time.perf_counter() - started) * 1e6)
            token = issue_development_token(user_id=world.owner_b.id, tenant_id=world.tenant_b.id, minutes=30)
            client = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_TENANT_ID=str(world.tenant_b.id))
            timings: dict[bool, list[float]] = {True: [], False: []}
            for index in range(rounds * 2):
                enabled = index % 2 == 0
                with override_settings(TENANT_RATE_LIMITS_ENABLED=enabled):
                    started = time.perf_counter()
                    response = client.get("/api/v1/clients/")
                    timings[enabled].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"client list answered {response.status_code}")
    return {
        "hit_us_median": round(statistics.median(hits), 1),
        "hit_us_p99": round(sorted(hits)[int(len(hits) * 0.99)], 1),
        "client_list_ms_p50_limiter_on": round(statistics.median(timings[True]), 3),
        "client_list_ms_p50_limiter_off": round(statistics.median(timings[False]), 3),
    }


def run(options: FairnessOptions) -> dict:
    from bench import database

    bench = database.create()
    results: dict[str, Any] = {
        "sizes": {"jobs": options.jobs, "items": options.items, "chunk": options.chunk},
        "machine": {"cpus": os.cpu_count()},
    }
    try:
        options.log("loading ...")
        world = build_world(options)
        options.log("limiter cost (in-process) ...")
        results["limiter_cost"] = limiter_cost(world)
        if options.background:
            log_path = Path(f"/tmp/benchmark_fairness_{os.getpid()}.log")
            results["background"] = {}
            options.log("background round before ...")
            results["background"]["before"] = background_round(world, options, fair=False, cap=0, log_path=log_path)
            for cap in options.caps:
                options.log(f"background round after, TENANT_MAX_RUNNING_TASKS={cap} ...")
                results["background"][f"after_cap{cap}"] = background_round(
                    world, options, fair=True, cap=cap, log_path=log_path
                )
        if options.http:
            options.log("HTTP: B's client list, alone and with A at 5x its rate ...")
            results["http"] = http_phases(world, bench, options)
    finally:
        database.drop(bench)
    return results


def render(results: dict) -> str:
    lines = ["Fair share (issue 28)", f"   sizes {results['sizes']}  machine {results['machine']}"]
    cost = results["limiter_cost"]
    lines += [
        "",
        "Rate limiter cost",
        f"   one hit (3 limits, one Redis round trip): median {cost['hit_us_median']} us, p99 {cost['hit_us_p99']} us",
        f"   in-process client list p50: limiter on {cost['client_list_ms_p50_limiter_on']} ms, "
        f"off {cost['client_list_ms_p50_limiter_off']} ms",
    ]
    if "background" in results:
        lines += ["", "Background: one worker process, concurrency 2; A queues its jobs, then B queues two"]
        for key, round_ in results["background"].items():
            lines.append(f"   {key:<11} A's total {round_['a_total_s']} s ({round_['a_drafts']} drafts)")
            for job in round_["b_jobs"]:
                lines.append(
                    f"               B {job['kind']:<26} queue wait {job['queue_wait_s']:>7} s  "
                    f"completion {job['completion_s']:>7} s"
                )
        before = results["background"]["before"]
        for key, round_ in results["background"].items():
            if key != "before":
                lines.append(f"   A's total {key} / before: {round_['a_total_s'] / before['a_total_s']:.2f}x")
    if "http" in results:
        http = results["http"]
        lines += [
            "",
            f"HTTP (gunicorn): tenant rate {http['tenant_rate']}; A sends {http['a_target_rps']:.0f} req/s (5x)",
        ]
        for key in ("limits_on", "limits_off"):
            alone, flooded = http[key]["b_alone"], http[key]["b_with_a_at_5x"]
            lines.append(
                f"   {key:<10} B alone p50 {alone['b_p50_ms']} ms p99 {alone['b_p99_ms']} ms;"
                f" with A p50 {flooded['b_p50_ms']} ms p99 {flooded['b_p99_ms']} ms"
                f" (ratios {flooded['b_p50_ms'] / alone['b_p50_ms']:.2f}x / {flooded['b_p99_ms'] / alone['b_p99_ms']:.2f}x);"
                f" A got {flooded['a_statuses']}"
            )
    return "\n".join(lines)
