"""A Celery worker killed in the middle of a job: the task is redelivered (acks_late,
reject_on_worker_lost, visibility timeout) and the job completes without duplicates.

Real parts: a real worker process, the real Redis, the real PostgreSQL test database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import cast
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from brandvx.celery import app as celery_app
from clients.models import Client
from conftest import TenantWorld
from tenants.context import tenant_context
from tenants.models import BackgroundJob
from tenants.testing import api_client

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.usefixtures("committed"), pytest.mark.slow]


def owner_database_url() -> str:
    db = settings.DATABASES["owner"]
    host = db.get("HOST") or ""
    auth = quote(db["USER"]) + (":" + quote(db["PASSWORD"]) if db.get("PASSWORD") else "")
    if host.startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={quote(host)}"
    return f"postgresql://{auth}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def start_worker(name: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=owner_database_url(),
        REDIS_URL=cast(str, settings.REDIS_URL),
        DJANGO_SETTINGS_MODULE="brandvx.settings",
        DJANGO_DEBUG="1",  # the development values, as before: DEBUG is on only when asked for
        CELERY_VISIBILITY_TIMEOUT="3",  # redeliver a dead worker's task after 3 s, not 45 min
        CELERY_UNACKED_RESTORE_INTERVAL="1",
        CELERY_UNACKED_RESTORE_THROTTLE="1",
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "brandvx",
            "worker",
            "-Q",
            ",".join(settings.BRANDVX_QUEUES),
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
            "-n",
            f"{name}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def job_state(tenant, job_id):
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.values("status", "progress_done", "progress_total", "counts").get(id=job_id)


def test_killed_worker_job_is_redelivered_and_completes_without_duplicates():
    # This run's queue may hold tasks earlier tests enqueued on commit (a Square connection's
    # merchant check, which would wait on an unreachable Square): the worker gets only ours.
    celery_app.control.purge()
    world = TenantWorld()
    rows = 4000
    csv = "first_name,last_name,email\n" + "".join(f"Client{i},Test,c{i}@kill.test\n" for i in range(rows))
    upload = SimpleUploadedFile("clients.csv", csv.encode(), content_type="text/csv")
    response = api_client(world.owner_a, tenant=world.tenant_a).post(
        "/api/v1/clients/import/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]

    first = start_worker("first")
    second = None
    try:
        deadline = time.monotonic() + 120
        while True:  # wait until the job is part-way through
            state = job_state(world.tenant_a, job_id)
            if 0 < state["progress_done"] < rows:
                break
            assert state["status"] != "succeeded", "the job finished before the worker could be killed; use more rows"
            assert time.monotonic() < deadline, f"the worker never started the job: {state}"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = job_state(world.tenant_a, job_id)
        assert killed_at["status"] == "running" and killed_at["progress_done"] < rows

        second = start_worker("second")
        deadline = time.monotonic() + 180
        while (state := job_state(world.tenant_a, job_id))["status"] != "succeeded":
            assert state["status"] in ("queued", "running"), state
            assert time.monotonic() < deadline, f"the job was not redelivered: {state}"
            time.sleep(0.2)
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
    assert state["progress_done"] == rows
    assert state["counts"].get("created") == rows, state["counts"]
    with tenant_context(world.tenant_a.id, role="system"):
        assert Client.objects.filter(email__endswith="@kill.test").count() == rows
        assert Client.objects.filter(email="c0@kill.test").count() == 1
