"""Development runner: `python -m brandvx.dev run | stop | wipe`.

`run` starts (or reuses) the embedded PostgreSQL and Redis when DATABASE_URL / REDIS_URL are
unset, exports their URLs so every process shares them, migrates, loads the demo tenant, and
runs gunicorn (127.0.0.1:8000), a Celery worker and Celery beat until Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _prepare_environment() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "brandvx.settings")
    from brandvx import embedded

    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = embedded.postgres_url()
        print(f"Embedded PostgreSQL: {os.environ['DATABASE_URL']}")
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = embedded.redis_url()
        print(f"Embedded Redis: {os.environ['REDIS_URL']}")


def _manage(*args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout or ""


def run(bind: str = "127.0.0.1:8000") -> int:
    _prepare_environment()
    _manage("migrate", "--no-input")
    _manage("collectstatic", "--no-input", "--verbosity", "0")
    demo = _manage("seed_demo", capture=True)
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
    print("\n" + "=" * 78)
    print(demo.strip())
    print(f"API:     http://{bind}/api/v1/me/   docs: http://{bind}/api/docs/   admin: http://{bind}/admin/")
    print("Stop with Ctrl-C.")
    print("=" * 78, flush=True)

    def stop(*_):
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
        embedded.stop_redis()
        embedded.stop_postgres()
        return 0
    if command == "wipe":
        embedded.wipe()
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
