"""Builders for the chunked-job tests: many clients with birthdays, and queued batch jobs."""

from __future__ import annotations

import datetime
import uuid

from campaigns.services import BIRTHDAY_BATCH_KIND
from clients.models import Client
from tenants import jobs
from tenants.context import tenant_context
from tenants.models import BackgroundJob, Tenant


def load_birthday_clients(tenant: Tenant, count: int, *, month: int, tag: str) -> None:
    """`count` clients with email consent whose birthdays fall in `month` (days 1-28)."""
    with tenant_context(tenant.id, role="system"):
        Client.objects.bulk_create(
            [
                Client(
                    tenant=tenant,
                    first_name=f"C{n}",
                    last_name=tag,
                    email=f"c{n}.{tag}@chunks.test",
                    birthday_month=month,
                    birthday_day=1 + n % 28,
                    email_consent=True,
                )
                for n in range(count)
            ],
            batch_size=2000,
        )


def queue_batch(tenant: Tenant, *, month: int, enqueue=None) -> BackgroundJob:
    """A queued birthday batch over `month` of 2026 (email). Enqueued after commit when
    `enqueue` is given (a real worker's job), else only written."""
    with tenant_context(tenant.id, role="system"):
        return jobs.job_create(
            tenant=tenant,
            kind=BIRTHDAY_BATCH_KIND,
            params={"days_ahead": 27, "from": datetime.date(2026, month, 1).isoformat(), "channel": "email"},
            enqueue=enqueue,
        )


def job_state(tenant: Tenant, job_id: uuid.UUID):  # the row's values (a TypedDict of the stubs)
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.values(
            "status",
            "progress_done",
            "progress_total",
            "counts",
            "checkpoint",
            "started_at",
            "finished_at",
            "created_at",
        ).get(id=job_id)
