"""End to end with a REAL Celery worker process on the real Redis (not eager mode):
HTTP request -> job queued on commit -> worker runs it in the tenant's context -> drafts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from brandvx.celery import app as celery_app
from campaigns.models import MessageDraft
from campaigns.tests.factories import make_client
from conftest import TenantWorld
from tenants.context import tenant_context
from tenants.models import BackgroundJob

pytestmark = [pytest.mark.slow, pytest.mark.citus, pytest.mark.usefixtures("committed")]

ROOT = Path(__file__).resolve().parents[2]


def owner_database_url() -> str:
    """DATABASE_URL of the database this test session really uses (conftest renames it to
    test_<name>_<pid>), so the worker process works on the same rows."""
    db = settings.DATABASES["owner"]
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or ""
    if host.startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={quote(host)}"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}@{host}{port}/{db['NAME']}"


def start_worker(log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": owner_database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "DJANGO_SETTINGS_MODULE": "brandvx.settings.test",
    }
    celery = Path(sys.executable).with_name("celery")
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            str(celery),
            "-A",
            "brandvx",
            "worker",
            "-Q",
            ",".join(settings.BRANDVX_QUEUES),
            "--pool",
            "solo",
            "-c",
            "1",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"campaigns-test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: finishes the current task
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


def test_birthday_batch_runs_end_to_end_in_a_real_worker(tmp_path):
    # This run's queue may hold tasks earlier tests enqueued on commit: the worker gets only ours.
    celery_app.control.purge()
    world = TenantWorld()
    tenant = world.tenant_a
    for day in (2, 3, 4):
        make_client(tenant, birthday=(5, day), first_name=f"Worker{day}")
    make_client(tenant, birthday=(5, 3), sms_consent=False)  # skipped: no consent
    make_client(world.tenant_b, birthday=(5, 3))  # the other tenant's client gets nothing

    worker = start_worker(tmp_path / "worker.log")
    try:
        response = world.a.post(
            "/api/v1/campaigns/birthday-batch/", {"days_ahead": 7, "from": "2026-05-01", "channel": "sms"}
        )
        assert response.status_code == 202, response.content
        job_id = response.json()["job_id"]

        deadline = time.monotonic() + 90
        job = None
        while time.monotonic() < deadline:
            job = world.a.get(f"/api/v1/jobs/{job_id}/").json()
            if job["status"] in ("succeeded", "failed", "canceled"):
                break
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.3)
        assert job and job["status"] == "succeeded", (job, (tmp_path / "worker.log").read_text()[-3000:])
        assert job["counts"]["created"] == 3 and job["counts"]["skipped"] == 1
        assert job["progress"] == {"total": 4, "done": 4, "percent": 100.0}

        drafts = world.a.get("/api/v1/message-drafts/").json()["results"]
        assert sorted(d["body"] for d in drafts) == [
            f"Happy birthday, Worker{day}! Everyone at Salon A wishes you a wonderful day." for day in (2, 3, 4)
        ]
        assert {d["job"] for d in drafts} == {job_id}
        with tenant_context(world.tenant_b.id, role="system"):
            assert not MessageDraft.objects.exists()
            assert not BackgroundJob.objects.filter(id=job_id).exists()
    finally:
        stop_worker(worker)
