"""Development runner: `python -m brandvx.dev run [PORT | HOST:PORT] | stop | wipe`.

`run` refuses a port that is already in use before it changes anything, then starts (or
reuses) the embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are unset, exports
their URLs so every process shares them, migrates, loads the demo tenant, and runs gunicorn
(127.0.0.1:8000 unless told otherwise), a Celery worker and Celery beat until Ctrl-C. It runs
with DEBUG on (DJANGO_DEBUG=1) and the development values, and says so.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class DevError(Exception):
    """Something `run` refuses, said in one line, before anything was changed."""


def parse_bind(argument: str | None) -> tuple[str, int]:
    """`8001`, `127.0.0.1:8001` or nothing (127.0.0.1:8000) -> (host, port)."""
    if not argument:
        return DEFAULT_HOST, DEFAULT_PORT
    host, _, port_text = argument.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        raise DevError(f"{argument!r} is not a port or HOST:PORT (e.g. scripts/run 8001)") from None
    if not 0 < port < 65536:
        raise DevError(f"port {port} is out of range (1-65535)")
    return host or DEFAULT_HOST, port


def refuse_busy_port(host: str, port: int) -> None:
    """Fail before migrating, seeding (which resets the admin password) or starting anything:
    another instance (a second scripts/run) may be serving on that port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # As gunicorn binds: an address in TIME_WAIT is free, one with a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise DevError(
                    f"{host}:{port} is already in use (another scripts/run?). Nothing was changed. "
                    f"Stop it (Ctrl-C) or choose another port: scripts/run {port + 1}"
                ) from None
            raise DevError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _prepare_environment() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brandvx.settings")
    # DEBUG is on only with DJANGO_DEBUG=1 (brandvx.settings.env): this is a development run.
    os.environ.setdefault("DJANGO_DEBUG", "1")
    from brandvx import embedded

    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = embedded.postgres_url()
        print(f"Embedded PostgreSQL: {os.environ['DATABASE_URL']}")
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = embedded.redis_url()
        print(f"Embedded Redis: {os.environ['REDIS_URL']}")


def development_values_in_use() -> list[str]:
    """The secret variables left unset (or set to their public development value)."""
    from brandvx.settings.public_values import DEVELOPMENT

    return [name for name, value in DEVELOPMENT.items() if os.environ.get(name, "") in ("", value)]


def banner(*, host: str, port: int, demo: str, development_values: list[str], debug: bool) -> str:
    """What `run` prints once everything is up: every address with the real port."""
    base = f"http://{host}:{port}"
    lines = ["=" * 78, demo.strip()]
    lines.append(f"API:     {base}/api/v1/me/   docs: {base}/api/docs/   admin: {base}/admin/")
    lines.append(f"Browser: {base}/api-auth/login/  (sign in with a token; DEBUG: as the demo owner in one click)")
    if debug or development_values:
        lines.append("")
        lines.append(
            "WARNING: development settings"
            + (" (DEBUG on)" if debug else "")
            + (": public development values for " + ", ".join(development_values) if development_values else "")
            + "."
        )
        lines.append(
            "  Anyone who reads the source can sign tokens for this server. Never expose it; for production "
            "see the README's 'What production requires'."
        )
    lines.append("Stop with Ctrl-C.")
    lines.append("=" * 78)
    return "\n".join(lines)


def _manage(*args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout or ""


def run(bind: str | None = None) -> int:
    try:
        host, port = parse_bind(bind)
        refuse_busy_port(host, port)
    except DevError as exc:
        print(f"scripts/run: {exc}", file=sys.stderr)
        return 1
    _prepare_environment()
    # Unsubscribe links and Twilio's callbacks point here (every child process inherits it).
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://{bind}")
    _manage("migrate", "--no-input")
    _manage("collectstatic", "--no-input", "--verbosity", "0")
    demo = _manage("seed_demo", "--base-url", f"http://{host}:{port}", capture=True)
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    children = [
        subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "brandvx.wsgi", "--bind", bind, "--workers", "2", "--access-logfile", "-"],
            cwd=ROOT,
        ),
        # One worker per queue (issue 28): sending never waits behind bulk jobs.
        *(
            subprocess.Popen(
                [PYTHON, "-m", "celery", "-A", "brandvx", "worker", "--loglevel", "INFO"]
                + ["--concurrency", concurrency, "-Q", queue, "-n", f"{queue}@%h"],
                cwd=ROOT,
            )
            for queue, concurrency in (("brandvx-send", "1"), ("brandvx", "1"), ("brandvx-bulk", "2"))
        ),
        subprocess.Popen([PYTHON, "-m", "celery", "-A", "brandvx", "beat", "--loglevel", "INFO"], cwd=ROOT),
    ]
    time.sleep(2)
    print(
        "\n"
        + banner(
            host=host,
            port=port,
            demo=demo,
            development_values=development_values_in_use(),
            debug=os.environ.get("DJANGO_DEBUG") == "1",
        ),
        flush=True,
    )

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        stop()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    failed = any(child.returncode not in (0, -signal.SIGTERM, None) for child in children)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    if command == "run":
        return run(*argv[1:2])
    from brandvx import embedded

    if command == "stop":
        # What was stopped, or that nothing was running (a scripts/run's web server and workers
        # stop with its Ctrl-C; this stops the embedded servers they shared).
        print(embedded.stop_redis())
        print(embedded.stop_postgres())
        return 0
    if command == "wipe":
        embedded.wipe()
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
