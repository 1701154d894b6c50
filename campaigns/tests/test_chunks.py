"""Chunked jobs and the per-tenant cap (tenants.jobs, issue 28), driven chunk by chunk in this
process on the real database and Redis. What the task would publish is recorded by
`Published` instead (the real broker and worker: test_fair_share_worker.py)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from brandvx.celery import app as celery_app
from campaigns import batches
from campaigns.models import MessageDraft
from campaigns.tasks import birthday_batch
from campaigns.tests.chunking import job_state, load_birthday_clients, queue_batch
from conftest import TenantWorld
from tenants import jobs
from tenants.context import tenant_context
from tenants.testing import api_client

pytestmark = pytest.mark.usefixtures("committed")


class Published:
    """Stands in for the Celery task: records what job_run_chunk publishes. `priority` is the
    one this delivery came at (Celery's task.request.delivery_info)."""

    def __init__(self, priority: int = 0):
        self.calls: list[tuple[tuple, dict]] = []
        self.request = SimpleNamespace(delivery_info={"priority": priority})

    def apply_async(self, args=(), **options):
        self.calls.append((tuple(args), options))


def run(job, chunk, task=None):
    return jobs.job_run_chunk(
        task=task or Published(),
        tenant_id=job.tenant_id,
        job_id=job.id,
        chunk=chunk,
        step=batches.birthday_batch_step(),
    )


def drafts(tenant) -> int:
    with tenant_context(tenant.id, role="system"):
        return MessageDraft.objects.count()


@pytest.fixture
def chunks_of_10(monkeypatch):
    monkeypatch.setattr(batches, "BATCH_SIZE", 10)


def test_each_chunk_commits_its_progress_and_publishes_the_next(chunks_of_10):
    world = TenantWorld()
    load_birthday_clients(world.tenant_a, 35, month=6, tag="a")
    job = queue_batch(world.tenant_a, month=6)
    task = Published()
    assert run(job, 0, task) == "continued"
    state = job_state(world.tenant_a, job.id)
    assert state["status"] == "running" and state["progress_done"] == 10 and state["progress_total"] == 35
    assert state["checkpoint"]["chunk"] == 1 and drafts(world.tenant_a) == 10
    # At the tenant's bulk priority: one unfinished job, so 0 (taken first).
    assert task.calls == [((str(world.tenant_a.id), str(job.id), 1), {"priority": 0})]

    chunk = 1
    while (outcome := run(job, chunk, task)) == "continued":
        chunk += 1
    assert outcome == "finished" and chunk == 3  # 10 + 10 + 10 + 5
    state = job_state(world.tenant_a, job.id)
    assert state["status"] == "succeeded" and state["progress_done"] == 35
    assert state["counts"]["created"] == 35 and drafts(world.tenant_a) == 35


def test_a_chunk_over_the_tenant_cap_goes_back_to_the_queue_and_other_tenants_run(chunks_of_10, settings):
    settings.TENANT_MAX_RUNNING_TASKS = 1
    world = TenantWorld()
    load_birthday_clients(world.tenant_a, 15, month=7, tag="a")
    load_birthday_clients(world.tenant_b, 5, month=7, tag="b")
    job_a, job_b = queue_batch(world.tenant_a, month=7), queue_batch(world.tenant_b, month=7)
    held = jobs.tenant_slot_acquire(world.tenant_a.id)  # a chunk of A is running elsewhere
    assert held is not None
    waiting = queue_batch(world.tenant_b, month=1)
    birthday_batch.apply_async(args=(str(world.tenant_b.id), str(waiting.id)))  # another task waits
    try:
        # Delivered at priority 1, as when A has a second job running (the slot held above):
        # B's task waits at 0, ahead of it.
        task = Published(priority=1)
        assert run(job_a, 0, task) == "deferred"
        assert task.calls == [
            (
                (str(world.tenant_a.id), str(job_a.id), 0),
                {"countdown": settings.TENANT_TASK_RETRY_MS / 1000, "priority": 0},
            )
        ]
        assert job_state(world.tenant_a, job_a.id)["status"] == "queued" and drafts(world.tenant_a) == 0
        assert run(job_b, 0) == "finished"  # B has its own slot
        assert drafts(world.tenant_b) == 5
    finally:
        jobs.tenant_slot_release(held)
        celery_app.control.purge()
    assert run(job_a, 0) == "continued"


def test_over_the_cap_an_idle_worker_is_lent_while_no_task_waits(chunks_of_10, settings):
    settings.TENANT_MAX_RUNNING_TASKS = 1
    world = TenantWorld()
    load_birthday_clients(world.tenant_a, 15, month=5, tag="a")
    job = queue_batch(world.tenant_a, month=5)
    celery_app.control.purge()  # the bulk queue is empty: nobody else is waiting
    held = jobs.tenant_slot_acquire(world.tenant_a.id)
    try:
        assert run(job, 0) == "continued"
        settings.TENANT_SLOT_LENDING = False
        assert run(job, 1) == "deferred"
    finally:
        jobs.tenant_slot_release(held)


def test_over_the_cap_the_worker_is_lent_unless_a_task_waits_at_a_better_priority(chunks_of_10, settings):
    """Lending looks at the bulk queue's priorities: a task waiting at the chunk's own priority
    or a worse one (a tenant with as many jobs or more) does not stop it; one waiting at a
    better priority (a tenant with fewer jobs) does."""
    settings.TENANT_MAX_RUNNING_TASKS = 1
    world = TenantWorld()
    load_birthday_clients(world.tenant_a, 25, month=8, tag="a")
    job = queue_batch(world.tenant_a, month=8)
    waiting = queue_batch(world.tenant_b, month=1)
    celery_app.control.purge()
    held = jobs.tenant_slot_acquire(world.tenant_a.id)
    try:
        for priority in (3, 5):  # as good as A's chunk, then worse
            birthday_batch.apply_async(args=(str(world.tenant_b.id), str(waiting.id)), priority=priority)
        assert run(job, 0, Published(priority=3)) == "continued"
        birthday_batch.apply_async(args=(str(world.tenant_b.id), str(waiting.id)), priority=2)
        assert run(job, 1, Published(priority=3)) == "deferred"
        assert run(job, 1, Published(priority=2)) == "continued"  # nothing ahead of 2 but 2 itself
    finally:
        jobs.tenant_slot_release(held)
        celery_app.control.purge()
    assert drafts(world.tenant_a) == 20


def test_bulk_priority_counts_the_tenants_unfinished_jobs():
    world = TenantWorld()
    assert jobs.bulk_priority(world.tenant_a.id) == 0  # nothing yet: as good as one job
    batches_a = [queue_batch(world.tenant_a, month=month) for month in range(1, 13)]
    queue_batch(world.tenant_b, month=1)
    assert jobs.bulk_priority(world.tenant_a.id) == 9  # twelve unfinished: the last priority
    assert jobs.bulk_priority(world.tenant_b.id) == 0  # one: first
    with tenant_context(world.tenant_a.id, role="system"):
        for job in batches_a[:9]:
            jobs.job_cancel(job_id=job.id)
    assert jobs.bulk_priority(world.tenant_a.id) == 2  # three left
    celery_app.control.purge()


def test_a_killed_workers_slot_frees_itself(settings):
    settings.TENANT_TASK_LEASE_SECONDS = 1
    world = TenantWorld()
    assert jobs.tenant_slot_acquire(world.tenant_a.id) is not None  # never released: the worker died
    assert jobs.tenant_slot_acquire(world.tenant_a.id) is None
    time.sleep(1.2)
    assert jobs.tenant_slot_acquire(world.tenant_a.id) is not None


def test_the_cap_allows_as_many_chunks_as_it_says(settings):
    settings.TENANT_MAX_RUNNING_TASKS = 2
    world = TenantWorld()
    slots = [jobs.tenant_slot_acquire(world.tenant_a.id) for _ in range(3)]
    assert slots[0] is not None and slots[1] is not None and slots[2] is None
    for slot in slots[:2]:
        jobs.tenant_slot_release(slot)


def test_a_late_duplicate_of_a_committed_chunk_changes_nothing(chunks_of_10, settings):
    settings.TENANT_TASK_LEASE_SECONDS = 300
    world = TenantWorld()
    load_birthday_clients(world.tenant_a, 25, month=8, tag="a")
    job = queue_batch(world.tenant_a, month=8)
    assert run(job, 0) == "continued"
    task = Published()
    # The redelivery of chunk 0: the job moved within a lease, so the chain may be alive; it
    # looks again a lease later instead of running anything now.
    assert run(job, 0, task) == "recheck"
    assert task.calls == [((str(world.tenant_a.id), str(job.id), 0), {"countdown": 300, "priority": 0})]
    state = job_state(world.tenant_a, job.id)
    assert state["progress_done"] == 10 and state["checkpoint"]["chunk"] == 1


def test_a_chain_broken_after_a_commit_is_carried_on_by_the_redelivery(chunks_of_10, settings):
    settings.TENANT_TASK_LEASE_SECONDS = 1
    world = TenantWorld()
    load_birthday_clients(world.tenant_a, 25, month=9, tag="a")
    job = queue_batch(world.tenant_a, month=9)
    assert run(job, 0) == "continued"  # ... and the worker died before publishing chunk 1
    time.sleep(1.2)  # the job has not moved for a lease
    task = Published()
    assert run(job, 0, task) == "continued"  # the redelivered chunk 0 runs chunk 1
    assert job_state(world.tenant_a, job.id)["progress_done"] == 20
    assert task.calls == [((str(world.tenant_a.id), str(job.id), 2), {"priority": 0})]


def test_cancel_through_the_api_stops_the_job_at_the_next_chunk(chunks_of_10):
    world = TenantWorld()
    load_birthday_clients(world.tenant_a, 30, month=10, tag="a")
    job = queue_batch(world.tenant_a, month=10)
    assert run(job, 0) == "continued"
    response = api_client(world.owner_a, tenant=world.tenant_a).post(f"/api/v1/jobs/{job.id}/cancel/")
    assert response.status_code == 200, response.content
    task = Published()
    assert run(job, 1, task) == "stale"
    assert task.calls == []
    state = job_state(world.tenant_a, job.id)
    assert state["status"] == "canceled" and state["progress_done"] == 10 and drafts(world.tenant_a) == 10


def test_a_chunk_in_flight_when_the_cancel_comes_keeps_its_writes_and_ends_the_chain(chunks_of_10):
    world = TenantWorld()
    load_birthday_clients(world.tenant_a, 30, month=11, tag="a")
    job = queue_batch(world.tenant_a, month=11)
    inner = batches.birthday_batch_step()

    def step_then_cancel(job_row, cursor):
        chunk = inner(job_row, cursor)
        with tenant_context(world.tenant_a.id, role="system"):
            jobs.job_cancel(job_id=job_row.id)
        return chunk

    task = Published()
    outcome = jobs.job_run_chunk(task=task, tenant_id=job.tenant_id, job_id=job.id, chunk=0, step=step_then_cancel)
    assert outcome == "canceled" and task.calls == []
    state = job_state(world.tenant_a, job.id)
    assert state["status"] == "canceled" and state["progress_done"] == 10 and drafts(world.tenant_a) == 10


def test_without_fair_scheduling_the_whole_job_runs_in_one_task(chunks_of_10, settings):
    settings.TENANT_FAIR_SCHEDULING = False
    world = TenantWorld()
    load_birthday_clients(world.tenant_a, 25, month=12, tag="a")
    job = queue_batch(world.tenant_a, month=12)
    held = jobs.tenant_slot_acquire(world.tenant_a.id)  # ignored: no cap before issue 28
    try:
        task = Published()
        assert run(job, 0, task) == "finished" and task.calls == []
    finally:
        jobs.tenant_slot_release(held)
    assert job_state(world.tenant_a, job.id)["progress_done"] == 25 and drafts(world.tenant_a) == 25
