"""Celery entry points of the clients app: ids in, tenant entered by the service, work done."""

from __future__ import annotations

import uuid

from celery import Task, shared_task
from django.conf import settings

from clients import imports
from clients.services import IMPORT_TASK_NAME
from tenants import jobs
from tenants.models import Tenant


@shared_task(name=IMPORT_TASK_NAME, bind=True)  # type: ignore[untyped-decorator]  # celery is untyped
def client_import_csv_task(self: Task, tenant_id: str, job_id: str) -> str:
    """Import an uploaded client CSV, one chunk (CLIENTS_IMPORT_CHUNK_ROWS rows) per task: a
    chunk that ends with rows left enqueues the next (see clients.imports.client_import_csv),
    so one tenant's big file does not hold a worker while other tenants' tasks wait. A chunk
    runs only with one of its tenant's running-chunk slots (tenants.jobs, issue 28); without
    one it goes back to the queue after TENANT_TASK_RETRY_MS.

    Idempotent: rows are matched before anything is created, and each batch commits together
    with the job's progress, so a redelivered task resumes after the last committed batch; a
    finished or canceled job is left alone (a cancel stops the chain at the next batch).
    """
    tenant = Tenant.objects.get(id=uuid.UUID(tenant_id))
    outcome = imports.client_import_csv_chunk(
        tenant=tenant, job_id=uuid.UUID(job_id), priority=jobs.delivered_priority(self)
    )
    if outcome == "deferred":
        jobs.publish_chunk(self, (tenant_id, job_id), countdown=settings.TENANT_TASK_RETRY_MS / 1000)
    elif outcome == "continued":
        jobs.publish_chunk(self, (tenant_id, job_id))
    return outcome
