"""Retention of stored webhook events (tenants.jobs.retention runs it daily, per tenant).

A webhook event is kept WEBHOOK_RETENTION_DAYS (30) after it was received: long enough to
drop the provider's replays and redeliveries (Square retries for 3 days) and to read what
happened to it; then the row goes, with whatever of the notification it holds."""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings

from integrations.models import WebhookEvent


def sweep(tenant_id: uuid.UUID, now: datetime.datetime) -> dict[str, int]:
    """In the tenant's context: delete its webhook events older than the retention."""
    cutoff = now - datetime.timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    deleted, _ = WebhookEvent.objects.filter(tenant_id=tenant_id, received_at__lt=cutoff).delete()
    return {"integrations_webhookevent": deleted}
