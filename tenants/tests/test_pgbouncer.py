"""The application through PgBouncer in transaction pooling mode, one server connection.

Transaction-local settings are what make this safe: whatever one client's transaction set
dies with its commit, before PgBouncer hands the server connection to the next client.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from conftest import TenantWorld
from tenants.context import tenant_context
from tenants.models import BackgroundJob
from tenants.testing import api_client

pytestmark = pytest.mark.usefixtures("committed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgBouncer:
    def __init__(self, *, host: str, port: str | int, user: str, password: str):
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        os.chmod(self.dir, 0o777)
        self.port = _free_port()
        # PgBouncer refuses to run as root; when root, run it as the user that may reach the
        # server's socket directory (the embedded server's), else as nobody.
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "nobody"
        (self.dir / "userlist.txt").write_text(f'"{user}" "{password}"\n')
        (self.dir / "pgbouncer.ini").write_text(
            f"""
[databases]
* = host={host} port={port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/userlist.txt
pool_mode = transaction
default_pool_size = 1
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
"""
        )
        for path in self.dir.iterdir():
            os.chmod(path, 0o666)

    def __enter__(self):
        command = [shutil.which("pgbouncer"), "-d", str(self.dir / "pgbouncer.ini")]
        if self.run_as:
            command[1:1] = ["-u", self.run_as]
        subprocess.run(command, check=True, timeout=20)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError((self.dir / "pgbouncer.log").read_text()) from None
                time.sleep(0.05)

    def __exit__(self, *exc):
        pid_file = self.dir / "pgbouncer.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), 15)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def through_pgbouncer():
    if shutil.which("pgbouncer") is None:
        message = "PgBouncer is not installed here (Debian: apt-get install pgbouncer); .ci/run installs it"
        if os.environ.get("BRANDVX_REQUIRE_PGBOUNCER"):
            pytest.fail(message)  # CI: a missing PgBouncer is a failure, never a silent skip
        pytest.skip(message)
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "/var/run/postgresql"
    bouncer = PgBouncer(host=host, port=db.get("PORT"), user=db["USER"], password=db["PASSWORD"])
    saved = {key: db.get(key) for key in ("HOST", "PORT", "CONN_MAX_AGE")}
    with bouncer:
        for conn in connections.all():
            conn.close()
        db.update(HOST="127.0.0.1", PORT=str(bouncer.port), CONN_MAX_AGE=60)
        try:
            yield bouncer
        finally:
            for conn in connections.all():
                conn.close()
            db.update(saved)


def make_jobs(tenant, n):
    with tenant_context(tenant.id, role="system"):
        return {str(BackgroundJob.objects.create(tenant=tenant, kind=f"pool-{tenant.name}").id) for _ in range(n)}


def test_interleaved_tenants_through_one_pooled_server_connection(through_pgbouncer):
    world = TenantWorld()
    jobs = {"a": make_jobs(world.tenant_a, 3), "b": make_jobs(world.tenant_b, 2)}
    tenants = {"a": world.tenant_a, "b": world.tenant_b}
    owners = {"a": world.owner_a, "b": world.owner_b}
    problems: list[str] = []
    backend_pids: set[int] = set()
    lock = threading.Lock()

    def worker(index: int):
        try:
            for round_ in range(15):
                key = "ab"[(index + round_) % 2]
                other = "b" if key == "a" else "a"
                response = api_client(owners[key], tenant=tenants[key]).get("/api/v1/jobs/?page_size=100")
                seen = {row["id"] for row in response.json()["results"]}
                if response.status_code != 200 or seen != jobs[key] or seen & jobs[other]:
                    problems.append(f"thread {index} as {key}: {response.status_code} saw {len(seen)} rows")
                with tenant_context(tenants[key].id, role="owner_admin"), connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid(), count(*) FROM tenants_backgroundjob")
                    pid, count = cursor.fetchone()
                    if count != len(jobs[key]):
                        problems.append(f"thread {index} as {key}: raw count {count}")
                # And a statement with no tenant at all, in between.
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*), coalesce(current_setting('app.tenant_id', true), '') FROM tenants_backgroundjob"
                    )
                    count, setting = cursor.fetchone()
                    if count != 0 or setting != "":
                        problems.append(f"thread {index} without tenant: {count} rows, setting {setting!r}")
                with lock:
                    backend_pids.add(pid)
        except Exception as exc:  # reported, not swallowed
            problems.append(f"thread {index}: {exc!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not problems, "\n".join(problems[:20])
    assert len(backend_pids) == 1, f"expected one pooled server connection, saw backends {backend_pids}"
