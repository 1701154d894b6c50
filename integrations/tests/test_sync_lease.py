"""Sync leases: a dead worker's sync is taken over within minutes, resumes from its checkpoint,
and a job's counts and result describe the whole run across redeliveries."""

from __future__ import annotations

import datetime
import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.utils import timezone

from clients.models import Client
from integrations.sync import Lease, SyncStopped, run_sync
from integrations.tests import fakes
from integrations.tests.helpers import connect, no_wait_policy, reload, resource_counts
from tenants.context import tenant_context
from tenants.models import BackgroundJob

pytestmark = pytest.mark.django_db

SYNC_URL = "/api/v1/integrations/square/sync/"


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside the run: nothing after it executes (no
    `except Exception`, no job_finish)."""


def customer_pages(total: int, size: int = 100) -> list[list[dict]]:
    people = [fakes.square_customer(i) for i in range(total)]
    return [people[i : i + size] for i in range(0, total, size)]


def stub_customers(pages, *, kill_at_cursor: str | None = None):
    good = fakes.paged(pages, "customers")
    armed = {"on": kill_at_cursor is not None}

    def callback(request):
        if armed["on"] and f"cursor={kill_at_cursor}" in request.url:
            armed["on"] = False
            raise WorkerKilled()
        return good(request)

    responses.add_callback(responses.GET, f"{fakes.SQUARE}/v2/customers", callback=callback)
    fakes.stub_square(responses.mock, customers=False)


def job(tenant, job_id) -> BackgroundJob:
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.get(id=job_id)


def age_lease(tenant, job_id, seconds: int) -> None:
    """Let time pass for the job's lease, as if its worker had been silent that long."""
    with tenant_context(tenant.id, role="system"):
        BackgroundJob.objects.filter(id=job_id).update(updated_at=timezone.now() - datetime.timedelta(seconds=seconds))


def start_sync(world, django_capture_on_commit_callbacks) -> str:
    with django_capture_on_commit_callbacks(execute=False):
        response = world.a.post(SYNC_URL)
    assert response.status_code == 202, response.content
    return response.json()["job_id"]


@responses.activate
def test_a_dead_workers_sync_is_taken_over_after_the_lease_and_resumes_from_its_checkpoint(
    world, settings, django_capture_on_commit_callbacks
):
    settings.SYNC_LEASE_SECONDS = 120
    tenant = world.tenant_a
    connection = connect(tenant, "square")
    stub_customers(customer_pages(250), kill_at_cursor="c2")
    first = start_sync(world, django_capture_on_commit_callbacks)

    with pytest.raises(WorkerKilled):
        run_sync(tenant_id=tenant.id, job_id=first, policy=no_wait_policy())
    assert job(tenant, first).status == "running"
    assert reload(connection).cursors["customers"]["cursor"] == "c2"

    # While the lease is live, a second click is refused as before.
    refused = world.a.post(SYNC_URL)
    assert refused.status_code == 409 and refused.json()["code"] == "sync_in_progress"
    assert refused.json()["job_id"] == first

    age_lease(tenant, first, 121)
    second = start_sync(world, django_capture_on_commit_callbacks)
    dead = job(tenant, first)
    assert dead.status == "failed" and "stopped making progress" in dead.failure_reason

    responses.calls.reset()
    run_sync(tenant_id=tenant.id, job_id=second, policy=no_wait_policy())
    taken_over = job(tenant, second)
    assert taken_over.status == "succeeded", taken_over.failure_reason
    first_call = next(c for c in responses.calls if urlparse(c.request.url).path == "/v2/customers")
    assert parse_qs(urlparse(first_call.request.url).query)["cursor"] == ["c2"]
    assert resource_counts(taken_over, "customers")["created"] == 50
    with tenant_context(tenant.id, role="system"):
        assert Client.objects.count() == 250

    # The dead run's task, redelivered by the broker much later, does nothing.
    responses.calls.reset()
    assert run_sync(tenant_id=tenant.id, job_id=first, policy=no_wait_policy()) is None
    assert len(responses.calls) == 0


@responses.activate
def test_counts_and_result_describe_the_whole_run_across_a_redelivery(world, django_capture_on_commit_callbacks):
    tenant = world.tenant_a
    connect(tenant, "square")
    stub_customers(customer_pages(250), kill_at_cursor="c2")
    job_id = start_sync(world, django_capture_on_commit_callbacks)

    with pytest.raises(WorkerKilled):
        run_sync(tenant_id=tenant.id, job_id=job_id, policy=no_wait_policy())
    run_sync(tenant_id=tenant.id, job_id=job_id, policy=no_wait_policy())  # the redelivery

    done = job(tenant, job_id)
    assert done.status == "succeeded"
    assert resource_counts(done, "customers")["created"] == 250
    assert done.result["resources"]["customers"]["created"] == 250
    assert done.result["resources"]["customers"]["fetched"] == 250


def test_long_waits_renew_the_lease_in_steps_shorter_than_it(world, settings):
    settings.SYNC_LEASE_SECONDS = 120
    tenant = world.tenant_a
    with tenant_context(tenant.id, role="system"):
        running = BackgroundJob.objects.create(tenant=tenant, kind="integrations.sync.square", status="running")
    age_lease(tenant, running.id, 110)
    slept: list[float] = []
    Lease(tenant_id=tenant.id, job_id=running.id, sleep=slept.append).sleep(100)

    assert slept == [30.0, 30.0, 30.0, 10.0]
    assert timezone.now() - job(tenant, running.id).updated_at < datetime.timedelta(seconds=5)


def test_a_run_that_was_taken_over_stops_at_its_next_wait_or_page(world):
    tenant = world.tenant_a
    with tenant_context(tenant.id, role="system"):
        taken = BackgroundJob.objects.create(tenant=tenant, kind="integrations.sync.square", status="failed")
    with pytest.raises(SyncStopped):
        Lease(tenant_id=tenant.id, job_id=taken.id, sleep=lambda s: None).sleep(1)


@responses.activate
def test_a_taken_over_run_writes_no_further_page(world, django_capture_on_commit_callbacks):
    tenant = world.tenant_a
    connect(tenant, "square")
    pages = customer_pages(250)
    good = fakes.paged(pages, "customers")
    job_id = start_sync(world, django_capture_on_commit_callbacks)

    def callback(request):
        if "cursor=c1" in request.url:  # while page 2 is being fetched, another run takes over
            with tenant_context(tenant.id, role="system"):
                BackgroundJob.objects.filter(id=job_id).update(status="failed", failure_reason="taken over")
        return good(request)

    responses.add_callback(responses.GET, f"{fakes.SQUARE}/v2/customers", callback=callback)
    fakes.stub_square(responses.mock, customers=False)

    run_sync(tenant_id=tenant.id, job_id=job_id, policy=no_wait_policy())

    with tenant_context(tenant.id, role="system"):
        assert Client.objects.count() == 100  # page 1 only
    assert job(tenant, job_id).failure_reason == "taken over"
    assert json.loads(json.dumps(job(tenant, job_id).counts))["customers.created"] == 100
