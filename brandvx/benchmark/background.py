"""Section 6: background work, through the apps' own services (when they exist)."""

from __future__ import annotations

import contextlib
import importlib
import time
from unittest import mock

from brandvx.benchmark.timing import summary


def _import(module: str, *names: str):
    loaded = importlib.import_module(module)
    missing = [n for n in names if not hasattr(loaded, n)]
    if missing:
        raise ImportError(f"{module} has no {', '.join(missing)}")
    return [getattr(loaded, n) for n in names]


@contextlib.contextmanager
def _no_enqueue(task_path: str):
    """The benchmark runs the job itself: nothing goes to the broker."""
    module, name = task_path.rsplit(".", 1)
    task = getattr(importlib.import_module(module), name)
    with mock.patch.object(task, "delay", lambda *args, **kwargs: None):
        yield


def birthday_drafts_per_second(tenants: list, *, repeat: int) -> dict:
    try:
        birthday_batch_start, birthday_batch_run = _import("campaigns.services", "birthday_batch_start", "birthday_batch_run")
        (TemplateGenerator,) = _import("campaigns.generators", "TemplateGenerator")
        (MessageDraft,) = _import("campaigns.models", "MessageDraft")
    except ImportError as exc:
        return {"available": False, "reason": f"not available: {exc}"}
    from tenants.context import tenant_context

    rates, drafts_made = [], []
    for tenant in tenants[:repeat]:
        with _no_enqueue("campaigns.tasks.birthday_batch"), tenant_context(tenant.id, role="owner_admin"):
            job = birthday_batch_start(tenant=tenant, acting_user=None, days_ahead=366, start=tenant.today(), channel="email")
        started = time.perf_counter()
        birthday_batch_run(tenant_id=tenant.id, job_id=job.id, generator=TemplateGenerator())
        seconds = time.perf_counter() - started
        with tenant_context(tenant.id, role="owner_admin"):
            made = MessageDraft.objects.filter(job_id=job.id).count()
        drafts_made.append(made)
        if made:
            rates.append(made / seconds)
    return {"available": True, "drafts_per_run": drafts_made, "per_second": summary(rates, 1),
            "note": "one birthday batch per tenant (366 days ahead, email, template generator)"}


def csv_rows_per_second(tenants: list, *, rows: int, repeat: int) -> dict:
    try:
        client_import_csv_start, client_import_csv = _import("clients.services", "client_import_csv_start", "client_import_csv")
    except ImportError as exc:
        return {"available": False, "reason": f"not available: {exc}"}
    from tenants.context import tenant_context

    rates, outcomes = [], []
    for run, tenant in enumerate(tenants[:repeat]):
        lines = ["First Name,Last Name,Email,Phone,Birthday"]
        for n in range(rows):
            lines.append(f"Csv{n},Import{run},csv{run}.{n}@bench.test,+1415{run:03d}{n:04d},1990-{1 + n % 12:02d}-{1 + n % 28:02d}")
        data = ("\n".join(lines) + "\n").encode()
        with _no_enqueue("clients.tasks.client_import_csv_task"), tenant_context(tenant.id, role="owner_admin"):
            job = client_import_csv_start(tenant=tenant, data=data, filename="bench.csv")
        started = time.perf_counter()
        client_import_csv(tenant=tenant, job_id=job.id)
        seconds = time.perf_counter() - started
        from tenants.models import BackgroundJob

        with tenant_context(tenant.id, role="owner_admin"):
            finished = BackgroundJob.objects.get(id=job.id)
        outcomes.append({"status": finished.status, "counts": finished.counts})
        rates.append(rows / seconds)
    return {"available": True, "rows_per_run": rows, "outcomes": outcomes, "per_second": summary(rates, 1)}
