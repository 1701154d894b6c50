"""A provider sync in chunks (issue 28): each task writes about JOB_CHUNK_SIZE records, stops
after a page it can resume from, and the next task carries on from the saved checkpoint."""

from __future__ import annotations

import urllib.parse

import pytest
import responses

from clients.models import Client
from integrations.sync import run_sync
from integrations.tasks import sync_connection
from integrations.tests import fakes
from integrations.tests.helpers import connect, no_wait_policy, resource_counts
from tenants import jobs
from tenants.context import tenant_context
from tenants.models import BackgroundJob

pytestmark = pytest.mark.django_db


def queued_sync(tenant, connection) -> BackgroundJob:
    with tenant_context(tenant.id, role="system"):
        return jobs.job_create(
            tenant=tenant, kind=f"integrations.sync.{connection.provider}", params={"connection_id": str(connection.id)}
        )


def job_row(tenant, job_id) -> BackgroundJob:
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.get(id=job_id)


def pages(count: int, size: int) -> list[list[dict]]:
    return [[fakes.hubspot_contact(page * size + n + 1) for n in range(size)] for page in range(count)]


@responses.activate
def test_a_sync_hands_over_between_pages_and_the_next_chunk_resumes(world):
    tenant = world.tenant_a
    connection = connect(tenant, "hubspot")
    fakes.stub_hubspot(responses.mock, pages(3, 2))
    job = queued_sync(tenant, connection)

    assert run_sync(tenant_id=tenant.id, job_id=job.id, policy=no_wait_policy(), budget=2) == {"continue": True}
    assert job_row(tenant, job.id).status == "running" and job_row(tenant, job.id).progress_done == 2
    assert run_sync(tenant_id=tenant.id, job_id=job.id, policy=no_wait_policy(), budget=2) == {"continue": True}
    # The last page ends the pass: nothing to hand over, the job finishes.
    run_sync(tenant_id=tenant.id, job_id=job.id, policy=no_wait_policy(), budget=2)

    done = job_row(tenant, job.id)
    assert done.status == "succeeded" and done.progress_done == 6
    assert resource_counts(done, "contacts")["created"] == 6
    afters = [urllib.parse.parse_qs(urllib.parse.urlparse(c.request.url).query).get("after") for c in responses.calls]
    assert afters == [None, ["1"], ["2"]]  # each page fetched once: chunks resumed, never restarted
    with tenant_context(tenant.id, role="system"):
        assert Client.objects.count() == 6


@responses.activate
def test_the_sync_task_defers_over_the_tenant_cap_and_chains_its_chunks(world, settings, monkeypatch):
    settings.JOB_CHUNK_SIZE = 2
    tenant = world.tenant_a
    connection = connect(tenant, "hubspot")
    fakes.stub_hubspot(responses.mock, pages(2, 2))
    job = queued_sync(tenant, connection)
    published = []
    monkeypatch.setattr(sync_connection, "apply_async", lambda args, **options: published.append((args, options)))

    settings.TENANT_SLOT_LENDING = False  # as when another tenant's task waits ahead: no worker is lent
    held = jobs.tenant_slot_acquire(tenant.id)
    try:
        assert sync_connection.run(str(tenant.id), str(job.id)) == "deferred"
    finally:
        jobs.tenant_slot_release(held)
    # Back to the queue at the tenant's bulk priority (one unfinished job: 0).
    retry = settings.TENANT_TASK_RETRY_MS / 1000
    assert published == [((str(tenant.id), str(job.id)), {"priority": 0, "countdown": retry})]
    assert job_row(tenant, job.id).status == "queued"

    assert sync_connection.run(str(tenant.id), str(job.id)) == "continued"
    assert published[-1] == ((str(tenant.id), str(job.id)), {"priority": 0})
    assert sync_connection.run(str(tenant.id), str(job.id)) == "finished"
    assert job_row(tenant, job.id).status == "succeeded" and job_row(tenant, job.id).progress_done == 4
