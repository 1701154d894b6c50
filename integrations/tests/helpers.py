"""Test helpers: connections, jobs, and a sync run that never sleeps."""

from __future__ import annotations

from integrations.merchants import square_merchant_record
from integrations.models import IntegrationConnection
from integrations.providers.base import RetryPolicy
from integrations.services import connection_create
from integrations.sync import run_sync
from tenants.context import tenant_context
from tenants.jobs import job_create
from tenants.models import BackgroundJob

SQUARE_CREDENTIALS = {
    "access_token": "sq-token-1",
    "refresh_token": "sq-refresh-1",
    "expires_at": "2099-01-01T00:00:00Z",
}


def connect(
    tenant, provider: str, credentials: dict | None = None, config: dict | None = None
) -> IntegrationConnection:
    """A connection as the API creates it. `config={"merchant_id": ...}` stands for Square's
    answer to the token (what the verification records); a request cannot set it."""
    config = dict(config or {})
    merchant_id = config.pop("merchant_id", None)
    defaults = {
        "square": SQUARE_CREDENTIALS,
        "acuity": {"user_id": "12345", "api_key": "acuity-key-1"},
        "hubspot": {"access_token": "pat-na1-xyz"},
        "custom_crm": {},
    }
    with tenant_context(tenant.id, role="system"):
        connection, _ = connection_create(
            tenant=tenant,
            provider=provider,
            credentials=credentials if credentials is not None else defaults[provider],
            config=config,
            acting_user=None,
        )
    if merchant_id:
        square_merchant_record(
            tenant_id=tenant.id,
            connection_id=connection.id,
            merchant_id=merchant_id,
            access_token=connection.credentials["access_token"],
        )
        connection = reload(connection)
    return connection


def no_wait_policy(sleeps: list | None = None, **kwargs) -> RetryPolicy:
    return RetryPolicy(sleep=(sleeps.append if sleeps is not None else (lambda s: None)), jitter=lambda: 0.5, **kwargs)


def sync(tenant, connection, *, sleeps: list | None = None, now=None, **policy) -> BackgroundJob:
    with tenant_context(tenant.id, role="system"):
        job = job_create(
            tenant=tenant, kind=f"integrations.sync.{connection.provider}", params={"connection_id": str(connection.id)}
        )
    run_sync(tenant_id=tenant.id, job_id=job.id, policy=no_wait_policy(sleeps, **policy), now=now)
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.get(id=job.id)


def reload(connection) -> IntegrationConnection:
    with tenant_context(connection.tenant_id, role="system"):
        return IntegrationConnection.objects.get(id=connection.id)


def resource_counts(job: BackgroundJob, resource: str) -> dict:
    return {k.split(".", 1)[1]: v for k, v in job.counts.items() if k.startswith(f"{resource}.")}
