"""Fair background work with REAL Celery worker processes on the real Redis (issue 28):
a chunked birthday batch survives a killed worker, and one tenant's backlog does not hold
another tenant's small job behind it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from brandvx.celery import app as celery_app
from campaigns.models import MessageDraft
from campaigns.tasks import birthday_batch
from campaigns.tests.chunking import job_state, load_birthday_clients, queue_batch
from campaigns.tests.test_worker import owner_database_url
from conftest import TenantWorld
from tenants.context import tenant_context

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("committed")]

ROOT = Path(__file__).resolve().parents[2]


def start_worker(name: str, log_path: Path, *, concurrency: int = 1, **env_extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": owner_database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "DJANGO_SETTINGS_MODULE": "brandvx.settings.test",
        "CELERY_VISIBILITY_TIMEOUT": "3",  # redeliver a dead worker's task after 3 s
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        **env_extra,
    }
    pool = ["--pool", "solo"] if concurrency == 1 else ["--pool", "prefork", "--concurrency", str(concurrency)]
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "brandvx", "worker", "-Q", ",".join(settings.BRANDVX_QUEUES), *pool]
        + ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"]
        + ["-n", f"{name}-{os.getpid()}@%h"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(worker: subprocess.Popen | None) -> None:
    if worker is None or worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=10)


def enqueue(job) -> None:
    birthday_batch.delay(str(job.tenant_id), str(job.id))


def wait_finished(tenant, job_id, *, seconds: float, log: Path) -> dict:
    deadline = time.monotonic() + seconds
    while (state := job_state(tenant, job_id))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, (state, log.read_text()[-3000:] if log.exists() else "")
        time.sleep(0.1)
    return state


def test_a_chunked_batch_survives_a_killed_worker_without_duplicates(tmp_path):
    celery_app.control.purge()
    world = TenantWorld()
    clients = 3000
    load_birthday_clients(world.tenant_a, clients, month=4, tag="kill")
    log = tmp_path / "workers.log"
    # Chunks of 100; a slot lease of 5 s, so the killed worker's slot frees itself quickly.
    chunking = {"JOB_CHUNK_SIZE": "100", "TENANT_TASK_LEASE_SECONDS": "5", "TENANT_TASK_RETRY_MS": "500"}
    first = start_worker("first", log, **chunking)
    second = None
    try:
        job = queue_batch(world.tenant_a, month=4, enqueue=enqueue)
        deadline = time.monotonic() + 120
        while not 0 < (state := job_state(world.tenant_a, job.id))["progress_done"] < clients:
            assert state["status"] in ("queued", "running"), "finished before the kill; use more clients"
            assert time.monotonic() < deadline, (state, log.read_text()[-3000:])
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = job_state(world.tenant_a, job.id)
        assert killed_at["status"] == "running" and killed_at["progress_done"] < clients

        second = start_worker("second", log, **chunking)
        state = wait_finished(world.tenant_a, job.id, seconds=180, log=log)
    finally:
        stop(first)
        stop(second)
    assert state["status"] == "succeeded", state
    assert state["progress_done"] == state["progress_total"] == clients
    assert state["counts"]["created"] == clients and state["counts"]["already_existed"] == 0, state["counts"]
    with tenant_context(world.tenant_a.id, role="system"):
        assert MessageDraft.objects.count() == clients
        assert MessageDraft.objects.values("client_id").distinct().count() == clients


def test_one_tenants_backlog_does_not_hold_another_tenants_small_batch(tmp_path):
    """One worker process of concurrency 2 on every queue. Tenant A queues three batches of
    1,500 clients (chunks of 100), then tenant B one of 20: B's batch finishes long before A's
    backlog does, instead of behind it."""
    celery_app.control.purge()
    world = TenantWorld()
    for month in (1, 2, 3):
        load_birthday_clients(world.tenant_a, 1500, month=month, tag=f"a{month}")
    load_birthday_clients(world.tenant_b, 20, month=1, tag="b")
    log = tmp_path / "worker.log"
    worker = start_worker(
        "fair", log, concurrency=2, JOB_CHUNK_SIZE="100", TENANT_MAX_RUNNING_TASKS="1", TENANT_TASK_RETRY_MS="1000"
    )
    try:
        a_jobs = [queue_batch(world.tenant_a, month=month, enqueue=enqueue) for month in (1, 2, 3)]
        # B arrives once A's backlog is being worked on.
        deadline = time.monotonic() + 120
        while job_state(world.tenant_a, a_jobs[0].id)["progress_done"] == 0:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        b_queued = time.monotonic()
        b_job = queue_batch(world.tenant_b, month=1, enqueue=enqueue)
        b_state = wait_finished(world.tenant_b, b_job.id, seconds=120, log=log)
        b_seconds = time.monotonic() - b_queued
        a_at_b_done = [job_state(world.tenant_a, job.id) for job in a_jobs]
        a_states = [wait_finished(world.tenant_a, job.id, seconds=300, log=log) for job in a_jobs]
    finally:
        stop(worker)
    assert b_state["status"] == "succeeded" and b_state["counts"]["created"] == 20
    assert all(state["status"] == "succeeded" and state["counts"]["created"] == 1500 for state in a_states)
    # When B was done, A's backlog was not: B did not wait for it.
    assert sum(state["progress_done"] for state in a_at_b_done) < 4500, a_at_b_done
    # B waited at most a few of A's chunks, not A's whole backlog.
    a_span = max(s["finished_at"] for s in a_states) - min(s["started_at"] for s in a_states)
    print(f"\nB's batch: {b_seconds:.2f}s from queued to done; A's backlog: {a_span.total_seconds():.2f}s")
    assert b_seconds < a_span.total_seconds() / 3, (b_seconds, a_span)
