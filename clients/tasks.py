"""Celery entry points of the clients app: ids in, tenant entered by the service, work done."""

from __future__ import annotations

import uuid

from celery import shared_task

from clients import imports
from clients.conf import limit
from clients.services import IMPORT_TASK_NAME
from tenants.models import Tenant


@shared_task(name=IMPORT_TASK_NAME)  # type: ignore[untyped-decorator]  # celery is untyped
def client_import_csv_task(tenant_id: str, job_id: str) -> None:
    """Import an uploaded client CSV, one chunk (CLIENTS_IMPORT_CHUNK_ROWS rows) per task: a
    chunk that ends with rows left enqueues the next (see clients.imports.client_import_csv),
    so one tenant's big file does not hold a worker while other tenants' tasks wait.

    Idempotent: rows are matched before anything is created, and each batch commits together
    with the job's progress, so a redelivered task resumes after the last committed batch; a
    finished or canceled job is left alone (a cancel stops the chain at the next batch).
    """
    tenant = Tenant.objects.get(id=uuid.UUID(tenant_id))
    more = imports.client_import_csv(
        tenant=tenant, job_id=uuid.UUID(job_id), chunk_rows=limit("CLIENTS_IMPORT_CHUNK_ROWS")
    )
    if more:
        client_import_csv_task.delay(tenant_id, job_id)
