"""Celery entry points. They take ids, enter the tenant themselves, and call the engine.

Delivery is at-least-once (acks_late): each task is safe to run twice, as said below.
"""

from __future__ import annotations

from celery import shared_task

from integrations import sync


@shared_task(name="integrations.sync")
def sync_connection(tenant_id: str, job_id: str) -> None:
    """Idempotent: job_start refuses a finished job; a redelivered running job resumes from
    the checkpoints saved with each page, and every write is an upsert by provider id."""
    sync.run_sync(tenant_id=tenant_id, job_id=job_id)


@shared_task(name="integrations.verify_square_merchant")
def verify_square_merchant(tenant_id: str, connection_id: str) -> None:
    """Idempotent: asks Square again and writes the same merchant id and route."""
    sync.square_merchant_verify(tenant_id=tenant_id, connection_id=connection_id)


@shared_task(name="integrations.process_square_event")
def process_square_event(tenant_id: str, event_id: str) -> None:
    """Idempotent: a processed event is skipped, and the object is re-fetched and upserted."""
    sync.process_square_event(tenant_id=tenant_id, event_id=event_id)


@shared_task(name="integrations.process_acuity_appointment")
def process_acuity_appointment(
    tenant_id: str, connection_id: str, appointment_id: str, event_id: str | None = None
) -> None:
    """Idempotent: fetches the appointment's current state and upserts it by Acuity id; the
    webhook event (absent for tasks queued before events were recorded) is marked processed."""
    sync.process_acuity_appointment(
        tenant_id=tenant_id, connection_id=connection_id, appointment_id=appointment_id, event_id=event_id
    )


def enqueue_sync(job) -> None:
    sync_connection.delay(str(job.tenant_id), str(job.id))
