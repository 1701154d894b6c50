"""The CSV import runs in chunks (issue 28): a task handles CLIENTS_IMPORT_CHUNK_ROWS rows,
then enqueues the next chunk with the job's progress and counts carried over; a redelivered
chunk resumes after its last committed batch; a cancel stops the chain between chunks."""

from unittest import mock

import pytest

from clients import services
from clients.models import Client, ClientImport
from clients.tasks import client_import_csv_task
from tenants.context import tenant_context
from tenants.models import BackgroundJob

pytestmark = pytest.mark.django_db

CONTENT = "email,first name\n" + "".join(f"c{i}@example.com,C{i}\n" for i in range(7))


def start(tenant):
    with tenant_context(tenant.id, role="owner_admin"):
        return services.client_import_csv_start(tenant=tenant, data=CONTENT.encode(), filename="c.csv")


def chunk(tenant, job) -> list:
    """One delivery of the task; returns the tasks it enqueued (none reach the broker)."""
    with mock.patch.object(client_import_csv_task, "delay") as delay:
        client_import_csv_task.run(str(tenant.id), str(job.id))
    return [call.args for call in delay.call_args_list]


def state(tenant, job):
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.get(id=job.id), Client.objects.count()


def test_each_chunk_ends_and_enqueues_the_next_with_the_counts_carried_over(world, settings):
    settings.CLIENTS_IMPORT_BATCH_ROWS, settings.CLIENTS_IMPORT_CHUNK_ROWS = 2, 3
    t = world.tenant_a
    job = start(t)
    assert chunk(t, job) == [(str(t.id), str(job.id))]
    job, clients = state(t, job)
    assert (job.status, job.progress_done, job.counts["created"], clients) == ("running", 3, 3, 3)
    assert chunk(t, job) == [(str(t.id), str(job.id))]
    job, clients = state(t, job)
    assert (job.status, job.progress_done, job.counts["created"], clients) == ("running", 6, 6, 6)
    assert chunk(t, job) == []  # the last chunk finishes the job
    job, clients = state(t, job)
    assert (job.status, job.progress_done, job.progress_total, clients) == ("succeeded", 7, 7, 7)
    assert job.counts == {"created": 7, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0}
    with tenant_context(t.id, role="system"):
        assert not ClientImport.objects.filter(job_id=job.id).exists()


def test_a_chunk_ending_exactly_at_the_last_row_finishes_without_another_task(world, settings):
    settings.CLIENTS_IMPORT_BATCH_ROWS, settings.CLIENTS_IMPORT_CHUNK_ROWS = 7, 7
    job = start(world.tenant_a)
    assert chunk(world.tenant_a, job) == []
    assert state(world.tenant_a, job)[0].status == "succeeded"


def test_a_chunk_killed_mid_way_is_redelivered_and_resumes_after_its_last_batch(world, settings):
    """The worker dies after the chunk's first batch committed: the redelivered task (the same
    message, acks_late) picks up at progress_done, and nothing is imported twice."""
    settings.CLIENTS_IMPORT_BATCH_ROWS, settings.CLIENTS_IMPORT_CHUNK_ROWS = 2, 4
    t = world.tenant_a
    job = start(t)
    from clients import imports

    real = imports._import_batch
    calls = []

    def dies_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("worker killed")  # not an Exception: nothing catches it, like a kill
        return real(*args, **kwargs)

    with mock.patch.object(imports, "_import_batch", dies_on_second_batch), pytest.raises(SystemExit):
        chunk(t, job)
    job, clients = state(t, job)
    assert (job.status, job.progress_done, clients) == ("running", 2, 2)
    while chunk(t, job):
        pass
    job, clients = state(t, job)
    assert (job.status, job.progress_done, job.counts["created"], clients) == ("succeeded", 7, 7, 7)


def test_a_cancel_between_chunks_stops_the_chain(world, settings):
    settings.CLIENTS_IMPORT_BATCH_ROWS, settings.CLIENTS_IMPORT_CHUNK_ROWS = 2, 3
    t = world.tenant_a
    job = start(t)
    assert chunk(t, job)
    canceled = world.a.post(f"/api/v1/jobs/{job.id}/cancel/")
    assert canceled.status_code == 200, canceled.content
    assert chunk(t, job) == []
    job, clients = state(t, job)
    assert (job.status, job.progress_done, clients) == ("canceled", 3, 3)
