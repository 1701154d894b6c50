"""An upload is enqueued by its task's name: a web process (gunicorn) never imports
clients.tasks, so Celery's registry there has no such task; looking the task up in it would
fail every upload once the transaction commits (the job marked failed)."""

from __future__ import annotations

from celery import current_app

from clients import services
from conftest import make_tenant
from tenants.context import tenant_context
from tenants.models import BackgroundJob


def test_an_upload_is_enqueued_by_name_where_the_task_was_never_imported(committed, monkeypatch):
    tenant, _owner = make_tenant("Salon Upload")
    # As in a web process: the task is not in this process's registry.
    monkeypatch.delitem(current_app.tasks, services.IMPORT_TASK_NAME, raising=False)
    sent: list[tuple[str, tuple[str, ...], int]] = []
    monkeypatch.setattr(
        current_app, "send_task", lambda name, args, priority: sent.append((name, tuple(args), priority))
    )
    with tenant_context(tenant.id, role="system"):
        job = services.client_import_csv_start(
            tenant=tenant, data=b"first_name,email\nAmy,amy@x.test\n", filename="a.csv"
        )
    # Committed: the enqueue ran after commit, by name, and the job is still queued.
    # At the tenant's bulk priority: its one unfinished job, so 0 (tenants.jobs.bulk_priority).
    assert sent == [(services.IMPORT_TASK_NAME, (str(tenant.id), str(job.id)), 0)]
    with tenant_context(tenant.id, role="system"):
        assert BackgroundJob.objects.get(id=job.id).status == BackgroundJob.Status.QUEUED
