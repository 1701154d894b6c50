"""The `peers` section: the same 50-row client list served by this project and its peers,
in-process latency and requests/s through gunicorn, as ratios to this project, in one run."""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings

from bench.database import BenchDatabase, fetch_value
from bench.peers import setup
from bench.timing import pair_ratios, summary

if TYPE_CHECKING:
    from bench.http_load import Request  # imported where the section runs, as below

PROJECT = "this_project"
PEER_PATH = "/clients/"


@dataclass
class Target:
    name: str
    settings_module: str
    path: str
    headers: dict[str, Any]
    database_url: str = ""  # peers: their own database, as the runtime role


class InProcess:
    """A process timing one target's requests with Django's test client (bench.peers.inprocess)."""

    def __init__(self, target: Target, bench: BenchDatabase):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": target.settings_module,
            "PYTHONWARNINGS": "ignore",
            "LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
        }
        if target.name == PROJECT:
            env.update(
                DATABASE_URL=bench.owner_url(),
                DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
            )  # bench.settings accepts the repository's values inside the run (BRANDVX_BENCH_RUN)
            env.setdefault("REDIS_URL", settings.REDIS_URL or "")
            env.setdefault("SUPABASE_JWT_SECRET", settings.SUPABASE_JWT_SECRET or "")
        else:
            env["BENCH_PEER_DATABASE_URL"] = target.database_url
        self.target = target
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.peers.inprocess"],
            env=env,
            text=True,
            cwd=str(settings.BASE_DIR),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # The three pipes asked for above.
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self.stdin, self.stdout, self.stderr = self.process.stdin, self.process.stdout, self.process.stderr

    def get(self, n: int, *, results: bool = False) -> dict[str, Any]:
        ask = {"path": self.target.path, "headers": self.target.headers, "n": n, "results": results}
        self.stdin.write(json.dumps(ask) + "\n")
        self.stdin.flush()
        line = self.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.target.name}: in-process server died: {self.stderr.read()[-2000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            self.stdin.close()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _comparable(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A page with each row's `url` as its path: the peers answer on hosts of their own
    (django-tenants routes by host), so only the path can be the same."""
    return [{**row, "url": urlsplit(row["url"]).path} if "url" in row else row for row in page]


def _rows_over_http(port: int, target: Target) -> tuple[int, int | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", target.path, headers=target.headers)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return response.status, (len(json.loads(body)["results"]) if response.status == 200 else None)


def section(
    bench: BenchDatabase,
    *,
    tenant_ids: list[str],
    measured_tenant_id: str,
    token: str,
    project_path: str,
    concurrency: int,
    burst: float,
    pairs: int,
    repeat: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from bench.http_load import Gunicorn, Request, run_load

    expected_rows = min(50, _clients_of(bench, measured_tenant_id))
    peers: list[setup.PeerDatabase] = []
    inprocess: dict[str, InProcess] = {}
    servers: dict[str, Gunicorn] = {}
    try:
        ordered = [measured_tenant_id, *(t for t in tenant_ids if t != measured_tenant_id)]
        for peer in setup.PEERS:
            log(f"  peers: creating and loading {peer} ({len(ordered):,} tenants) ...")
            peers.append(setup.create(bench, peer, tenant_ids=ordered))
        targets = [
            Target(
                PROJECT,
                "bench.settings",
                project_path,
                {"Authorization": f"Bearer {token}", "X-Tenant-ID": measured_tenant_id},
            )
        ]
        for db in peers:
            headers = (
                {"Host": setup.domain(measured_tenant_id)}
                if db.peer == "django_tenants"
                else {"X-Tenant-ID": measured_tenant_id}
            )
            targets.append(Target(db.peer, db.settings_module, PEER_PATH, headers, db.runtime_url))
        by_name = {t.name: t for t in targets}

        log("  peers: in-process latency ...")
        answers = {}
        for target in targets:
            inprocess[target.name] = InProcess(target, bench)
        pages = {}
        for name, server in inprocess.items():
            first = server.get(3, results=True)  # warm-up: connections, caches
            answers[name] = {"status": first["status"], "rows": first["rows"]}
            if first["status"] != 200 or first["rows"] != expected_rows:
                raise RuntimeError(
                    f"{name} answered {first['status']} with {first['rows']} rows "
                    f"(expected 200 with {expected_rows}): {first['body']}"
                )
            pages[name] = first["results"]
        # The same page: the measured tenant's 50 newest clients, in order. A peer whose
        # isolation leaked (django-rls filters by its policy alone) would show others' rows.
        for name, page in pages.items():
            if [row["id"] for row in page] != [row["id"] for row in pages[PROJECT]]:
                raise RuntimeError(f"{name} did not serve the same clients as this project")
            answers[name]["same_body_as_this_project"] = _comparable(page) == _comparable(pages[PROJECT])
        times: dict[str, list[float]] = {name: [] for name in inprocess}
        names = list(inprocess)
        for round_index in range(repeat):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].extend(inprocess[name].get(1)["ms"])
        for process in inprocess.values():
            process.stop()

        log("  peers: requests/s through gunicorn ...")
        for target in targets:
            if target.name == PROJECT:
                servers[target.name] = Gunicorn(bench, isolation=True)
            else:
                servers[target.name] = Gunicorn(
                    bench, peer_settings=target.settings_module, peer_database_url=target.database_url
                )
        http_answers = {}
        for name, gunicorn in servers.items():
            gunicorn.wait_ready(by_name[name].path, by_name[name].headers)
            status, rows = _rows_over_http(gunicorn.port, by_name[name])
            http_answers[name] = {"status": status, "rows": rows}
            if status != 200 or rows != expected_rows:
                raise RuntimeError(f"{name} through gunicorn answered {status} with {rows} rows")
        requests = {name: Request("GET", t.path, t.headers, kind=name) for name, t in by_name.items()}
        for name, gunicorn in servers.items():  # warm-up
            run_load(gunicorn.port, _always(requests[name]), concurrency=concurrency, seconds=1.0, max_requests=2000)
        rps: dict[str, list[float]] = {name: [] for name in servers}
        errors = dict.fromkeys(servers, 0)
        for index in range(pairs):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                result = run_load(
                    servers[name].port,
                    _always(requests[name]),
                    concurrency=concurrency,
                    seconds=burst,
                    max_requests=100_000,
                )
                rps[name].append(result.rps)
                errors[name] += result.errors
        return {
            "available": True,
            "expected_rows": expected_rows,
            "tenants": len(ordered),
            "answers_in_process": answers,
            "answers_http": http_answers,
            "paths": {name: t.path for name, t in by_name.items()},
            "in_process_ms": {name: summary(values) for name, values in times.items()},
            "latency_over_this_project": {
                name: summary(pair_ratios(times[name], times[PROJECT])) for name in names if name != PROJECT
            },
            "rps": {name: summary(values, 1) for name, values in rps.items()},
            "rps_over_this_project": {
                name: summary(pair_ratios(rps[name], rps[PROJECT])) for name in names if name != PROJECT
            },
            "errors": errors,
            "concurrency": concurrency,
            "burst_seconds": burst,
            "pairs": pairs,
            "workers": "2 gthread x 4 threads, keep-alive",
            "note": "peers do not authenticate; this project verifies a JWT and a membership on every request",
        }
    finally:
        for process in inprocess.values():
            process.stop()
        for gunicorn in servers.values():
            gunicorn.stop()
        for db in peers:
            setup.drop(db)


def _always(request: Request) -> Callable[[random.Random], Request]:
    """The next request of a load that asks the same thing again and again."""
    return lambda rng: request


def _clients_of(bench: BenchDatabase, tenant_id: str) -> int:
    import psycopg

    with psycopg.connect(**bench.owner_conninfo(), autocommit=True) as conn:
        count: int = fetch_value(conn.execute("SELECT count(*) FROM clients_client WHERE tenant_id = %s", [tenant_id]))
        return count
