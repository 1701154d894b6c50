"""A business's export: every row of the tenant, one JSON Lines file per table, in a ZIP.

`POST /api/v1/tenant/export/` starts a background job (`tenant_export_start`); the worker
(`tenant_export_run`) writes `<TENANT_EXPORT_DIR>/<tenant id>/<job id>.zip` inside the
tenant's context (RLS: the runtime role reads only the tenant's rows, in one transaction, so
the files agree with each other), and the job's result names the file, its size and counts.
`GET /api/v1/tenant/export/{job_id}/download/` streams it for TENANT_EXPORT_AVAILABLE_DAYS
(7) after the job finished; the retention sweep deletes older files.

The tables are every table with a `tenant_id` column, found in the catalog (a table added
later is exported without a change here). Encrypted secret columns (provider and Twilio
credentials: tenants.db.roles.secret_columns_by_table) are left out. `manifest.json` holds the
format's version, the tenant, the time, each app's latest migration (the schema the rows
follow) and each file's row count.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.errors import Gone, NotFound
from tenants import jobs
from tenants.changes import record_change
from tenants.context import require_tenant, tenant_context
from tenants.db.roles import secret_columns_by_table
from tenants.db.sharding import tenant_tables
from tenants.models import BackgroundJob, Tenant, User

logger = logging.getLogger("brandvx.tenants.exports")

EXPORT_JOB_KIND = "tenants.export"
EXPORT_FORMAT_VERSION = 1
_FETCH_ROWS = 2000


class ExportNotAvailable(NotFound):
    code = "not_found"
    default_detail = "No such export in this tenant (or it has not finished yet)."


class ExportExpired(Gone):
    code = "export_expired"
    default_detail = "This export is no longer available; start a new one."


def export_path(tenant_id: uuid.UUID, job_id: uuid.UUID) -> Path:
    return Path(settings.TENANT_EXPORT_DIR) / str(tenant_id) / f"{job_id}.zip"


def tenant_export_start(*, tenant: Tenant, acting_user: User | None = None) -> BackgroundJob:
    """Queue the export job (enqueued after commit; 503 when the broker is down)."""
    require_tenant(tenant)

    with transaction.atomic():
        job = jobs.job_create(
            tenant=tenant, kind=EXPORT_JOB_KIND, started_by=acting_user, enqueue=jobs.task_by_name("tenants.export")
        )
        record_change(tenant=tenant, actor=acting_user, action="tenant.export_started", obj=job)
    return job


def _applied_migrations() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app")
        return dict(cursor.fetchall())


def write_tenant_export(tenant_id: uuid.UUID, path: Path) -> dict[str, Any]:
    """Write the ZIP at `path` (inside the tenant's context, in the caller's transaction).
    Returns the manifest."""
    secrets = secret_columns_by_table()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".zip.part")
    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        tables = tenant_tables(cursor)
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in tables:
            hidden = sorted(secrets.get(table, ()))
            quoted = '"' + table.replace('"', '""') + '"'
            # Read through a server-side cursor, a batch at a time: a large table never sits
            # in memory. `tenant_id = %s` besides RLS: one shard on Citus.
            select = f"SELECT (to_jsonb(t) - %s::text[])::text FROM {quoted} t WHERE tenant_id = %s"
            count = 0
            with archive.open(f"{table}.jsonl", "w") as out, connection.chunked_cursor() as rows:
                rows.execute(select, [hidden, tenant_id])
                while batch := rows.fetchmany(_FETCH_ROWS):
                    out.write(b"".join(row.encode() + b"\n" for (row,) in batch))
                    count += len(batch)
            counts[table] = count
        manifest = {
            "format": "brandvx.tenant_export",
            "schema_version": EXPORT_FORMAT_VERSION,
            "tenant_id": str(tenant_id),
            "exported_at": timezone.now().isoformat(),
            "migrations": _applied_migrations(),
            "left_out": {table: sorted(columns) for table, columns in sorted(secrets.items())},
            "tables": {table: {"file": f"{table}.jsonl", "rows": counts[table]} for table in tables},
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    partial.replace(path)
    return manifest


def tenant_export_run(*, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
    """The worker's side: write the file, finish the job with where it is and what it holds."""
    with tenant_context(tenant_id, role="system"):
        job = jobs.job_start(job_id=job_id, restart=True)
    if job is None:
        return
    path = export_path(tenant_id, job_id)
    try:
        with tenant_context(tenant_id, role="system"):
            manifest = write_tenant_export(tenant_id, path)
    except Exception:
        logger.exception("tenant export %s failed", job_id)
        path.with_suffix(".zip.part").unlink(missing_ok=True)
        with tenant_context(tenant_id, role="system"):
            jobs.job_finish(job_id=job_id, failure_reason="The export could not be written; start it again.")
        return
    rows = sum(t["rows"] for t in manifest["tables"].values())
    with tenant_context(tenant_id, role="system"):
        jobs.job_finish(
            job_id=job_id,
            result={
                "size_bytes": path.stat().st_size,
                "tables": len(manifest["tables"]),
                "rows": rows,
                "available_days": settings.TENANT_EXPORT_AVAILABLE_DAYS,
            },
        )


def tenant_export_file(
    *, tenant: Tenant, job_id: uuid.UUID, acting_user: User | None = None, now: datetime.datetime | None = None
) -> Path:
    """The finished export's file, for download; recorded in the change log. ExportNotAvailable
    (404) for a job of another tenant, another kind, or not finished; ExportExpired (410)
    after TENANT_EXPORT_AVAILABLE_DAYS."""
    require_tenant(tenant)
    job = BackgroundJob.objects.filter(
        tenant_id=tenant.id, id=job_id, kind=EXPORT_JOB_KIND, status=BackgroundJob.Status.SUCCEEDED
    ).first()
    if job is None or job.finished_at is None:
        raise ExportNotAvailable()
    path = export_path(tenant.id, job.id)
    available_until = job.finished_at + datetime.timedelta(days=settings.TENANT_EXPORT_AVAILABLE_DAYS)
    if (now or timezone.now()) > available_until or not path.exists():
        raise ExportExpired()
    record_change(tenant=tenant, actor=acting_user, action="tenant.export_downloaded", obj=job)
    return path


def expired_exports_delete(*, now: datetime.datetime | None = None) -> int:
    """Delete export files older than their availability (by the file's time: the job row may
    be gone). Returns how many."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.TENANT_EXPORT_AVAILABLE_DAYS)
    removed = 0
    for file in Path(settings.TENANT_EXPORT_DIR).glob("*/*.zip"):
        if datetime.datetime.fromtimestamp(file.stat().st_mtime, tz=datetime.UTC) < cutoff:
            file.unlink(missing_ok=True)
            removed += 1
    return removed
