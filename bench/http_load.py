"""Section 5 and `loadtest`: gunicorn on loopback and a keep-alive thread-pool load generator."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from bench.database import BenchDatabase


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]  # an AF_INET address: (host, port)
        return port


class Gunicorn:
    """One gunicorn (gthread, keep-alive) serving the benchmark database."""

    def __init__(
        self,
        bench: BenchDatabase,
        *,
        isolation: bool = True,
        workers: int = 2,
        threads: int = 4,
        peer_settings: str | None = None,
        peer_database_url: str = "",
    ):
        """This project on the benchmark database (isolation on or off), or a peer of
        bench/peers/ (`peer_settings`) on its own database."""
        self.port = free_port()
        self.isolation = isolation
        env = dict(os.environ)
        env.update(
            DATABASE_URL=bench.owner_url(),
            DJANGO_DEBUG="0",
            DJANGO_SECURE_SSL_REDIRECT="0",
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            # bench.settings accepts the repository's values inside the run (BRANDVX_BENCH_RUN).
            DJANGO_SETTINGS_MODULE="bench.settings",
            PYTHONWARNINGS="ignore",
            LOG_LEVEL="WARNING",
        )
        # None cannot go into an environment: the child's settings then work it out themselves
        # (REDIS_URL is always set by then; SUPABASE_JWT_SECRET is None only with JWKS alone).
        if settings.REDIS_URL is not None:
            env.setdefault("REDIS_URL", settings.REDIS_URL)
        if settings.SUPABASE_JWT_SECRET is not None:
            env.setdefault("SUPABASE_JWT_SECRET", settings.SUPABASE_JWT_SECRET)
        # The tenant rate limiter runs (its cost is part of every figure) but never refuses a
        # throughput burst; the fairness section sets its own rate (bench.fairness).
        for name in ("TENANT_API_RATE", "TENANT_API_BURST", "TENANT_USER_API_RATE"):
            env.setdefault(name, "100000000/60s")
        if not isolation:
            env.update(
                DJANGO_SETTINGS_MODULE="bench.settings_off",
                BRANDVX_BENCH_ISOLATION_OFF="1",
                BRANDVX_BENCH_BYPASS_USER=bench.bypass_role,
                BRANDVX_BENCH_BYPASS_PASSWORD=bench.bypass_password,
            )
        wsgi = "bench.wsgi:application"
        if peer_settings:
            env.update(DJANGO_SETTINGS_MODULE=peer_settings, BENCH_PEER_DATABASE_URL=peer_database_url)
            wsgi = "bench.peers.wsgi:application"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            wsgi,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--worker-class",
            "gthread",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ]
        # Its log goes to a file, not a pipe: a pipe nobody reads fills up (64 KiB) and then
        # blocks every worker that logs, e.g. a warning per 429 under a flood, until the
        # clients time out.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=str(settings.BASE_DIR),
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=True,
        )

    def log_tail(self, size: int = 2000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]

    def wait_ready(self, path: str, headers: dict[str, str], timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited: " + self.log_tail())
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", path, headers=headers)
                status = conn.getresponse().status
                conn.close()
                return status
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None
    kind: str = ""


@dataclass
class LoadResult:
    seconds: float = 0.0
    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)  # kind -> [latencies]
    error_samples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_load(
    port: int, next_request: Callable[[random.Random], Request], *, concurrency: int, seconds: float, max_requests: int
) -> LoadResult:
    """`concurrency` threads, each with one keep-alive connection, until time or count runs out."""
    result = LoadResult()
    lock = threading.Lock()
    issued = [0]
    deadline = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local: list[tuple[str, float, bool, str]] = []
        while time.perf_counter() < deadline:
            with lock:
                if issued[0] >= max_requests:
                    break
                issued[0] += 1
            request = next_request(rng)
            started = time.perf_counter()
            error = ""
            try:
                conn.request(request.method, request.path, body=request.body, headers=request.headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    error = f"{request.kind} {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                error = f"{request.kind} {type(exc).__name__}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            local.append((request.kind, (time.perf_counter() - started) * 1000, bool(error), error))
        conn.close()
        with lock:
            for kind, ms, failed, message in local:
                result.requests += 1
                result.latencies_ms.append(ms)
                result.by_kind.setdefault(kind, []).append(ms)
                if failed:
                    result.errors += 1
                    if len(result.error_samples) < 10:
                        result.error_samples.append(message)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def json_body(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()
