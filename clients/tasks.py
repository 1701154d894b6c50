"""Celery entry points of the clients app: ids in, tenant entered by the service, work done."""

from __future__ import annotations

import uuid

from celery import shared_task

from clients import imports
from tenants.models import Tenant


@shared_task(name="clients.import_csv")
def client_import_csv_task(tenant_id: str, job_id: str) -> None:
    """Import an uploaded client CSV (see clients.imports.client_import_csv).

    Idempotent: rows are matched before anything is created, and each batch commits together
    with the job's progress, so a redelivered task resumes after the last committed batch; a
    finished or canceled job is left alone.
    """
    tenant = Tenant.objects.get(id=uuid.UUID(tenant_id))
    imports.client_import_csv(tenant=tenant, job_id=uuid.UUID(job_id))
