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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from tenants.models import Tenant, User

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class FairnessOptions:
    jobs: int = 6
    items: int = 20_000
    chunk: int = 1_000  # JOB_CHUNK_SIZE: the chunk API's jobs (birthday batches, syncs)
    # CLIENTS_IMPORT_CHUNK_ROWS: the CSV import's rows per task; None: the project's setting.
    import_chunk: int | None = None
    # A's jobs: "import" (the issue's: `jobs` CSV imports of `items` new clients each) or
    # "birthday" (`jobs` birthday batches over `items` clients each).
    a_kind: str = "import"
    http_seconds: float = 20.0
    http_rounds: int = 2
    http_limits: tuple[bool, ...] = (True, False)
    gunicorn_workers: int = 2
    gunicorn_threads: int = 4
    caps: tuple[int, ...] = (1, 2)
    # Background rounds of each kind, in alternating order (before, after..., then after...,
    # before, ...), so neither kind always follows the other's 120,000 written rows (their
    # checkpoint and autovacuum); each kind's A total is the median over its rounds.
    background_rounds: int = 2
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
    # A's clients: its birthday batches' and the HTTP section's big client list (the imports
    # start each round from a tenant of their own).
    a_clients = options.a_kind == "birthday" and options.background or options.http
    with tenant_context(tenant_a.id, role="system"):
        for month in world.windows if a_clients else []:  # one window (a month, days 1-28) per job
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
    _analyze()
    options.log(
        f"   loaded {options.jobs if a_clients else 0} x {options.items} clients for A, 20 for B"
        f" in {time.monotonic() - started:.1f}s"
    )
    return world


def _analyze() -> None:
    """Planner statistics for the rows just loaded, as a live database has them (autovacuum
    would get there within a minute or so): without them A's client list over 120,000 fresh
    rows is planned as if the table were empty."""
    from django.db import connections

    from clients.models import Client

    with connections["owner"].cursor() as cursor:
        cursor.execute(f'VACUUM (ANALYZE) "{Client._meta.db_table}"')


# --- background ---------------------------------------------------------------------------------


def _start_worker(*, fair: bool, chunk: int, import_chunk: int, cap: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_owner_url(),
        REDIS_URL=str(settings.REDIS_URL),
        DJANGO_SETTINGS_MODULE="bench.fairness_worker_settings",
        TENANT_FAIR_SCHEDULING="1" if fair else "0",
        JOB_CHUNK_SIZE=str(chunk),
        # The CSV import's rows per task: the run's chunk, or (before) the whole file at once.
        BENCH_CLIENTS_IMPORT_CHUNK_ROWS=str(import_chunk if fair else 10**9),
        TENANT_MAX_RUNNING_TASKS=str(cap),
        TENANT_TASK_RETRY_MS="500",
        CELERY_TASK_DEFAULT_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        BRANDVX_BENCH_SERVER="1",
        LOG_LEVEL="WARNING",
    )
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "brandvx", "worker", "-Q", ",".join(settings.BRANDVX_QUEUES)]
        + [
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING"),
        ]
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


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _jobs(tenant_id: uuid.UUID, job_ids: list[uuid.UUID]) -> list[Mapping[str, Any]]:
    from tenants.context import tenant_context
    from tenants.models import BackgroundJob

    with tenant_context(tenant_id, role="system"):
        rows = BackgroundJob.objects.filter(id__in=job_ids).values(
            "id", "kind", "status", "created_at", "started_at", "finished_at", "progress_done", "counts"
        )
        return sorted(rows, key=lambda row: job_ids.index(row["id"]))


def _settle(bench: Any) -> None:
    """The same start for every round: the rows the rounds before wrote are checkpointed and
    vacuumed now, not during the next round (the benchmark's role is a superuser, as
    `database.create` needs)."""
    import psycopg

    from clients.models import Client, ConsentEvent
    from tenants.models import ChangeRecord

    with psycopg.connect(**bench.owner_conninfo(), autocommit=True) as conn:
        for model in (Client, ConsentEvent, ChangeRecord):
            conn.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
        conn.execute("CHECKPOINT")


def _pooled(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One kind's rounds as one figure: A's total and time per chunk are medians, B's jobs
    those of the round where B finished last (the worst case); every A total is kept."""
    worst_b = max(rounds, key=lambda r: max((job["completion_s"] for job in r["b_jobs"]), default=0.0))
    return {
        **rounds[0],
        "a_total_s": round(statistics.median(r["a_total_s"] for r in rounds), 2),
        "a_chunk_s": round(statistics.median(r["a_chunk_s"] or 0.0 for r in rounds), 2),
        "b_jobs": worst_b["b_jobs"],
        "rounds": len(rounds),
        "a_totals_s": [r["a_total_s"] for r in rounds],
    }


def _reset(world: World) -> None:
    from campaigns.models import MessageDraft
    from clients.models import Client
    from tenants.context import tenant_context

    for tenant in (world.tenant_a, world.tenant_b):
        with tenant_context(tenant.id, role="system"):
            MessageDraft.objects.all().delete()
    with tenant_context(world.tenant_b.id, role="system"):
        Client.objects.filter(last_name="Imported").delete()


_AREA_CODES = ("212", "312", "415", "617", "646", "718", "773", "818", "206", "303")


def _a_csv(rows: int, tag: str, index: int) -> bytes:
    """A's file number `index`: `rows` new clients, each with its own e-mail and phone (no row
    matches another, in this file or the others), as a salon's export would have them."""
    area = _AREA_CODES[index % len(_AREA_CODES)]
    lines = ["first_name,last_name,email,phone"]
    lines += [
        f"Client{n},Import{tag},c{n}.{tag}@fair.test,+1{area}{200 + n // 10000 + 10 * (index // 10)}{n % 10000:04d}"
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _import_chunk(options: FairnessOptions) -> int:
    from clients.conf import limit

    return options.import_chunk or limit("CLIENTS_IMPORT_CHUNK_ROWS")


def background_round(world: World, options: FairnessOptions, *, fair: bool, cap: int, log_path: Path) -> dict[str, Any]:
    from brandvx.celery import app
    from campaigns.services import birthday_batch_start
    from clients.services import client_import_csv_start
    from tenants.context import tenant_context
    from tenants.services import tenant_create

    _reset(world)
    if options.a_kind == "import":
        # A fresh tenant A for each round: every round imports the same rows as new clients.
        tenant_a = tenant_create(name=f"Fairness A {uuid.uuid4().hex[:6]}", owner_sub=world.owner_a.id, timezone="UTC")
        files = [_a_csv(options.items, f"{month}x{uuid.uuid4().hex[:6]}", month - 1) for month in world.windows]
    else:
        tenant_a = world.tenant_a
    app.control.purge()
    # This process publishes as the round's settings route (no routes before issue 28).
    routes, was_fair = app.conf.task_routes, settings.TENANT_FAIR_SCHEDULING
    app.conf.task_routes = settings.CELERY_TASK_ROUTES if fair else {}
    settings.TENANT_FAIR_SCHEDULING = fair  # and with the priorities of issue 28 (tenants.jobs.bulk_priority)
    worker = _start_worker(
        fair=fair, chunk=options.chunk, import_chunk=_import_chunk(options), cap=cap, log_path=log_path
    )
    try:
        _wait_for_worker()
        a_ids = []
        with tenant_context(tenant_a.id, role="owner_admin"):
            for index, month in enumerate(world.windows):
                if options.a_kind == "import":
                    job = client_import_csv_start(tenant=tenant_a, data=files[index], filename=f"a{month}.csv")
                else:
                    job = birthday_batch_start(
                        tenant=tenant_a,
                        acting_user=None,
                        days_ahead=27,
                        start=datetime.date(2026, month, 1),
                        channel="email",
                    )
                a_ids.append(job.id)
        deadline = time.monotonic() + 120
        while not any(row["progress_done"] for row in _jobs(tenant_a.id, a_ids)):
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
            a_rows, b_rows = _jobs(tenant_a.id, a_ids), _jobs(world.tenant_b.id, b_ids)
            if all(row["status"] not in ("queued", "running") for row in a_rows + b_rows):
                break
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"the round did not finish; see {log_path}")
            time.sleep(0.2)
    finally:
        _stop(worker)
        app.conf.task_routes, settings.TENANT_FAIR_SCHEDULING = routes, was_fair
    failed = [row for row in a_rows + b_rows if row["status"] != "succeeded"]
    if failed:
        raise RuntimeError(f"jobs did not succeed: {failed}")

    def seconds(a: datetime.datetime, b: datetime.datetime) -> float:
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
    # What A's jobs did: clients created by the imports, drafts by the batches.
    done_key = "created"
    a_done = sum(r["counts"].get(done_key, 0) for r in a_rows)
    if options.a_kind == "import" and a_done != options.jobs * options.items:
        raise RuntimeError(f"A's imports created {a_done} clients, not {options.jobs * options.items}")
    # The time of one chunk of A's (the target's yardstick): A's two processes each spend
    # about 2 x a_total / a_done seconds per item, times the chunk's items.
    a_chunk = _import_chunk(options) if options.a_kind == "import" else options.chunk
    a_chunk_s = round(2 * a_chunk * a_total / a_done, 2) if a_done else None
    return {
        "fair": fair,
        "cap": cap if fair else None,
        "b_jobs": b_jobs,
        "a_total_s": a_total,
        "a_kind": options.a_kind,
        "a_done": a_done,
        "a_chunk_s": a_chunk_s,
        "a_chunk_items": a_chunk,
    }


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


def http_phases(world: World, bench: Any, options: FairnessOptions) -> dict[str, Any]:
    """B's client list through gunicorn, alone and while A sends 5x its sustained rate.

    A is paced (open loop): `a_target_rps` requests a second in all, each of its connections
    on a fixed schedule, whatever the answers; a connection whose answer comes late catches
    up without bursting past the schedule. B is a person's browser: one connection, a page
    then 0.2 s. The phases alternate, `http_rounds` times "B alone" then "B with A" (A's flood
    starts one rate window before B measures, so A is limited as in steady state), so
    whatever else the machine does weighs on both alike; B's figures pool the rounds."""
    from bench.http_load import Gunicorn
    from tenants.auth.ratelimit import parse_rate
    from tenants.auth.supabase import issue_development_token

    def headers(user: User, tenant: Tenant) -> dict[str, str]:
        token = issue_development_token(user_id=user.id, tenant_id=tenant.id, minutes=120)
        return {"Authorization": f"Bearer {token}", "X-Tenant-ID": str(tenant.id)}

    a_headers, b_headers = headers(world.owner_a, world.tenant_a), headers(world.owner_b, world.tenant_b)
    rate = parse_rate(options.http_rate)
    window = rate.get_expiry()
    a_target_rps = 5 * rate.amount / window
    results: dict[str, Any] = {
        "tenant_rate": options.http_rate,
        "burst": options.http_burst,
        "a_target_rps": a_target_rps,
        "gunicorn": {"workers": options.gunicorn_workers, "threads": options.gunicorn_threads},
        "rounds": options.http_rounds,
        "phase_seconds": options.http_seconds,
    }

    for limited in options.http_limits:
        previous = os.environ.get("TENANT_RATE_LIMITS_ENABLED")
        os.environ["TENANT_RATE_LIMITS_ENABLED"] = "1" if limited else "0"
        # The benchmark server's default rates would never refuse: give it the section's.
        os.environ.update(
            TENANT_API_RATE=options.http_rate,
            TENANT_API_BURST=options.http_burst,
            TENANT_USER_API_RATE=options.http_rate,
        )
        server = Gunicorn(bench, workers=options.gunicorn_workers, threads=options.gunicorn_threads)
        try:
            status = server.wait_ready("/api/v1/clients/", b_headers)
            if status != 200:
                raise RuntimeError(f"gunicorn answered {status} to B's client list")
            alone, flooded = Phase(), Phase()
            for round_ in range(options.http_rounds):
                options.log(f"   limits {'on' if limited else 'off'}, round {round_ + 1}: B alone, then with A at 5x")
                _run_phase(server.port, alone, b_headers, None, seconds=options.http_seconds, warm_up=1.0)
                _run_phase(
                    server.port,
                    flooded,
                    b_headers,
                    (a_headers, a_target_rps),
                    seconds=options.http_seconds,
                    warm_up=window,
                )
            results["limits_on" if limited else "limits_off"] = {
                "b_alone": alone.summary(),
                "b_with_a_at_5x": flooded.summary(),
            }
        finally:
            server.stop()
            if previous is None:
                os.environ.pop("TENANT_RATE_LIMITS_ENABLED", None)
            else:
                os.environ["TENANT_RATE_LIMITS_ENABLED"] = previous
    return results


@dataclass
class Phase:
    """What one kind of phase measured, pooled over its rounds."""

    b_latencies: list[float] = field(default_factory=list)
    b_per_round: list[tuple[float | None, float | None]] = field(default_factory=list)
    a_latencies: dict[int, list[float]] = field(default_factory=dict)
    a_late: int = 0  # A's requests sent more than one interval behind their schedule
    seconds: float = 0.0  # measured
    elapsed: float = 0.0  # with the warm-ups
    generator_cpu_s: float = 0.0
    load_average: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        a_sent = sum(len(values) for values in self.a_latencies.values())
        return {
            "b_requests": len(self.b_latencies),
            "b_p50_ms": _pct(self.b_latencies, 50),
            "b_p99_ms": _pct(self.b_latencies, 99),
            "b_p50_p99_per_round_ms": self.b_per_round,
            "a_requests_per_s": round(a_sent / self.seconds, 1) if self.seconds else 0,
            "a_statuses": {status: len(values) for status, values in sorted(self.a_latencies.items())},
            "a_429_share": round(len(self.a_latencies.get(429, [])) / a_sent, 3) if a_sent else None,
            "a_ms_by_status": {
                status: {"p50": _pct(values, 50), "p99": _pct(values, 99)}
                for status, values in sorted(self.a_latencies.items())
            },
            "a_late_requests": self.a_late,
            # This process's own CPU (B's reader, A's generator) as a share of one core: what
            # the load generator takes from the server on this machine.
            "generator_cpu_share": round(self.generator_cpu_s / self.elapsed, 3) if self.elapsed else 0,
            "load_average_1m": self.load_average,
        }


def _run_phase(
    port: int,
    phase: Phase,
    b_headers: dict[str, str],
    flood: tuple[dict[str, str], float] | None,
    *,
    seconds: float,
    warm_up: float,
) -> None:
    import http.client

    lock = threading.Lock()
    start_at = time.perf_counter() + warm_up  # A floods (and B warms its connection) until then
    stop_at = start_at + seconds
    b_latencies: list[float] = []
    a_latencies: dict[int, list[float]] = {}
    late = [0]

    def b_reader() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < start_at:  # warm-up: B's connection and a worker thread
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
            b_latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.2)  # B is a person's browser, not a script: a few pages a second at most

    def a_sender(headers: dict[str, str], interval: float, offset: float) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        next_at = time.perf_counter() + offset
        local: list[tuple[int, float, bool]] = []
        while True:
            now = time.perf_counter()
            if next_at > now:
                time.sleep(next_at - now)
            if next_at >= stop_at:
                break
            sent_at = time.perf_counter()
            conn.request("GET", "/api/v1/clients/", headers=headers)
            response = conn.getresponse()
            response.read()
            if sent_at >= start_at:  # the measured part only: A is limited by then
                local.append((response.status, (time.perf_counter() - sent_at) * 1000, sent_at - next_at > interval))
            next_at += interval
        conn.close()
        with lock:
            for status, ms, was_late in local:
                a_latencies.setdefault(status, []).append(ms)
                late[0] += was_late

    threads = [threading.Thread(target=b_reader)]
    if flood is not None:
        headers, rps = flood
        # Enough connections that A keeps its schedule even when answers are slow; each sends
        # every `interval`, the connections spread evenly over it.
        connections = 16
        interval = connections / rps
        threads += [
            threading.Thread(target=a_sender, args=(headers, interval, index * interval / connections))
            for index in range(connections)
        ]
    cpu_before = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.generator_cpu_s += time.process_time() - cpu_before
    phase.elapsed += warm_up + seconds
    phase.seconds += seconds
    phase.load_average.append(round(os.getloadavg()[0], 2))
    phase.b_latencies += b_latencies
    phase.b_per_round.append((_pct(b_latencies, 50), _pct(b_latencies, 99)))
    for status, values in a_latencies.items():
        phase.a_latencies.setdefault(status, []).extend(values)
    phase.a_late += late[0]


# --- the limiter's own cost ------------------------------------------------------------------------


def limiter_cost(world: World, *, rounds: int = 300) -> dict[str, Any]:
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


def run(options: FairnessOptions) -> dict[str, Any]:
    from bench import database

    bench = database.create()
    results: dict[str, Any] = {
        "sizes": {
            "jobs": options.jobs,
            "items": options.items,
            "chunk": options.chunk,
            "import_chunk": _import_chunk(options),
            "a_kind": options.a_kind,
        },
        "machine": {"cpus": os.cpu_count()},
    }
    try:
        options.log("loading ...")
        world = build_world(options)
        options.log("limiter cost (in-process) ...")
        results["limiter_cost"] = limiter_cost(world)
        if options.background:
            log_path = Path(f"/tmp/benchmark_fairness_{os.getpid()}.log")
            kinds = [("before", False, 0)] + [(f"after_cap{cap}", True, cap) for cap in options.caps]
            rounds: dict[str, list[dict[str, Any]]] = {key: [] for key, _fair, _cap in kinds}
            for number in range(options.background_rounds):
                for key, fair, cap in kinds if number % 2 == 0 else kinds[::-1]:
                    _settle(bench)
                    options.log(f"background round {number + 1}, {key} ...")
                    rounds[key].append(background_round(world, options, fair=fair, cap=cap, log_path=log_path))
            results["background"] = {key: _pooled(measured) for key, measured in rounds.items()}
        if options.http:
            options.log("HTTP: B's client list, alone and with A at 5x its rate ...")
            results["http"] = http_phases(world, bench, options)
    finally:
        database.drop(bench)
    return results


def render(results: dict[str, Any]) -> str:
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
        lines += [
            "",
            f"Background: one worker process, concurrency 2; A queues {results['sizes']['jobs']}"
            f" {'CSV imports' if results['sizes'].get('a_kind', 'import') == 'import' else 'birthday batches'}"
            f" of {results['sizes']['items']}, then B a 10-row import and a 20-client birthday batch",
        ]
        for key, round_ in results["background"].items():
            what = "clients imported" if round_["a_kind"] == "import" else "drafts"
            lines.append(
                f"   {key:<11} A's total {round_['a_total_s']} s, median of {round_.get('a_totals_s')}"
                f" ({round_['a_done']} {what};"
                f" {round_['a_chunk_s']} s per chunk of {round_.get('a_chunk_items')} on one process)"
            )
            for job in round_["b_jobs"]:
                lines.append(
                    f"               B {job['kind']:<26} queue wait {job['queue_wait_s']:>7} s  "
                    f"completion {job['completion_s']:>7} s"
                )
        before = results["background"]["before"]
        for key, round_ in results["background"].items():
            if key != "before":
                ratio = round_["a_total_s"] / before["a_total_s"]
                b_done = max((job["completion_s"] for job in round_["b_jobs"]), default=0.0)
                chunk_s = round_["a_chunk_s"] or 0.0
                lines.append(
                    f"   {key}: A's total / before {ratio:.2f}x (target <= 1.1x: {'met' if ratio <= 1.1 else 'NOT met'});"
                    f" B's last job done in {b_done} s, one chunk of A's {chunk_s} s"
                    f" (target: within one chunk: {'met' if b_done <= chunk_s else 'NOT met'})"
                )
    if "http" in results:
        http = results["http"]
        lines += [
            "",
            f"HTTP (gunicorn {http['gunicorn']['workers']} workers x {http['gunicorn']['threads']} threads):"
            f" tenant rate {http['tenant_rate']}, burst {http['burst']}; A paced at {http['a_target_rps']:.0f} req/s"
            f" (5x); {http['rounds']} rounds of {http['phase_seconds']:.0f} s alone / {http['phase_seconds']:.0f} s"
            " with A, interleaved",
        ]
        for key in ("limits_on", "limits_off"):
            if key not in http:
                continue
            alone, flooded = http[key]["b_alone"], http[key]["b_with_a_at_5x"]
            ratio = (
                f"{flooded['b_p50_ms'] / alone['b_p50_ms']:.2f}x / {flooded['b_p99_ms'] / alone['b_p99_ms']:.2f}x"
                if alone["b_p50_ms"] and alone["b_p99_ms"] and flooded["b_p50_ms"] and flooded["b_p99_ms"]
                else "n/a"
            )
            lines += [
                f"   {key:<10} B alone p50 {alone['b_p50_ms']} ms p99 {alone['b_p99_ms']} ms ({alone['b_requests']} requests);"
                f" with A p50 {flooded['b_p50_ms']} ms p99 {flooded['b_p99_ms']} ms ({flooded['b_requests']});"
                f" ratios p50 / p99 {ratio}",
                f"              A sent {flooded['a_requests_per_s']} req/s: {flooded['a_statuses']}"
                f" (429 share {flooded['a_429_share']}), A's ms by status {flooded['a_ms_by_status']},"
                f" {flooded['a_late_requests']} sent late",
                f"              load generator {flooded['generator_cpu_share']:.0%} of a core;"
                f" load average {alone['load_average_1m']} alone / {flooded['load_average_1m']} with A",
            ]
    return "\n".join(lines)
