"""Section 6: background work, through the apps' own services and job runners.

A figure is reported only for work that was done: each run checks its outcome (the job
succeeded, every CSV row created a client, the batch made drafts) and raises WorkFailed
otherwise, so a rate of failures can never pass for a throughput (issue 15).
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

from bench.timing import summary


class WorkFailed(RuntimeError):
    """The measured work did not succeed: the section must fail, not report a rate."""


@contextlib.contextmanager
def _no_enqueue(task_path: str) -> Iterator[None]:
    """The benchmark runs the job itself: nothing goes to the broker, whether the service
    publishes through the task (`.delay`, `.apply_async`) or by the task's name (`send_task`)."""
    from brandvx.celery import app as celery_app

    module, name = task_path.rsplit(".", 1)
    task = getattr(importlib.import_module(module), name)
    send_task = celery_app.send_task

    def send_other_tasks(task_name: str, *args: Any, **kwargs: Any) -> Any:
        return None if task_name == task.name else send_task(task_name, *args, **kwargs)

    with (
        mock.patch.object(task, "delay", lambda *args, **kwargs: None),
        mock.patch.object(task, "apply_async", lambda *args, **kwargs: None),
        mock.patch.object(celery_app, "send_task", send_other_tasks),
    ):
        yield


def birthday_drafts_per_second(tenants: list[Any], *, repeat: int) -> dict[str, Any]:
    # Imported here: this module loads before Django's apps are ready.
    from campaigns.batches import birthday_batch_run
    from campaigns.generators import TemplateGenerator
    from campaigns.models import MessageDraft
    from campaigns.services import birthday_batch_start
    from tenants.context import tenant_context

    rates, drafts_made = [], []
    for tenant in tenants[:repeat]:
        with _no_enqueue("campaigns.tasks.birthday_batch"), tenant_context(tenant.id, role="owner_admin"):
            job = birthday_batch_start(
                tenant=tenant, acting_user=None, days_ahead=366, start=tenant.today(), channel="email"
            )
        started = time.perf_counter()
        birthday_batch_run(tenant_id=tenant.id, job_id=job.id, generator=TemplateGenerator())
        seconds = time.perf_counter() - started
        from tenants.models import BackgroundJob

        with tenant_context(tenant.id, role="owner_admin"):
            made = MessageDraft.objects.filter(job_id=job.id).count()
            finished = BackgroundJob.objects.get(id=job.id)
        if finished.status != BackgroundJob.Status.SUCCEEDED or made == 0:
            raise WorkFailed(
                f"birthday batch for tenant {tenant.id}: job {finished.status} "
                f"({finished.failure_reason or 'no failure reason'}), {made} drafts made"
            )
        drafts_made.append(made)
        rates.append(made / seconds)
    return {
        "available": True,
        "drafts_per_run": drafts_made,
        "per_second": summary(rates, 1),
        "note": "one birthday batch per tenant (366 days ahead, email, template generator)",
    }


def csv_lines(run: int, rows: int, *, salt: str) -> list[str]:
    """A client CSV whose every row is valid and new: unique emails (the salt), and phone numbers
    that phonenumbers accepts (+1 415 2XX XXXX; a +1415000.... number is not one)."""
    exchange = 200 + (int(salt, 16) + run) % 800
    lines = ["First Name,Last Name,Email,Phone,Birthday"]
    for n in range(rows):
        lines.append(
            f"Csv{n},Import{run},csv.{salt}.{run}.{n}@bench.test,+1415{exchange:03d}{n:04d},"
            f"1990-{1 + n % 12:02d}-{1 + n % 28:02d}"
        )
    return lines


def csv_rows_per_second(tenants: list[Any], *, rows: int, repeat: int) -> dict[str, Any]:
    from clients.imports import client_import_csv
    from clients.services import client_import_csv_start

    if rows > 10_000:
        raise ValueError("at most 10,000 CSV rows per run (one phone exchange each)")
    import secrets

    from clients.models import Client
    from tenants.context import tenant_context
    from tenants.models import BackgroundJob

    salt = secrets.token_hex(3)
    rates, outcomes = [], []
    for run, tenant in enumerate(tenants[:repeat]):
        data = ("\n".join(csv_lines(run, rows, salt=salt)) + "\n").encode()
        with _no_enqueue("clients.tasks.client_import_csv_task"), tenant_context(tenant.id, role="owner_admin"):
            before = Client.objects.filter(tenant_id=tenant.id).count()
            job = client_import_csv_start(tenant=tenant, data=data, filename="bench.csv")
        started = time.perf_counter()
        client_import_csv(tenant=tenant, job_id=job.id)
        seconds = time.perf_counter() - started
        with tenant_context(tenant.id, role="owner_admin"):
            finished = BackgroundJob.objects.get(id=job.id)
            created = Client.objects.filter(tenant_id=tenant.id).count() - before
        outcome = {"status": finished.status, "counts": finished.counts, "clients_created": created}
        if (
            finished.status != BackgroundJob.Status.SUCCEEDED
            or finished.counts.get("created") != rows
            or created != rows
        ):
            raise WorkFailed(
                f"CSV import for tenant {tenant.id} did not create its {rows} clients: {outcome}; "
                f"first errors {finished.errors[:3]}"
            )
        outcomes.append(outcome)
        rates.append(rows / seconds)
    return {"available": True, "rows_per_run": rows, "outcomes": outcomes, "per_second": summary(rates, 1)}
