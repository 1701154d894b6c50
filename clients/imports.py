"""The CSV import's runner: what the worker does with an uploaded file (the job is started by
services.client_import_csv_start). Batches of rows, each batch one tenant transaction: its rows
read and checked in Python (csv_format), then written set-based by
services.client_upsert_many (COPY into a temporary table, one INSERT / UPDATE per table)."""

from __future__ import annotations

import datetime
import gc
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clients import csv_format
from clients.conf import limit
from clients.models import ClientImport, Source, Tag
from clients.records import ContactRecord
from clients.rules import ImportOutcome
from clients.services import client_upsert, client_upsert_many, tag_get_or_create
from tenants import jobs
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)


IMPORT_OUTCOMES = tuple(ImportOutcome.values)
# Per row, each optional field that could not be read and was left out (the row is imported
# without it): counted here and listed in the job's errors with "kind": "field_dropped".
FIELDS_DROPPED = "fields_dropped"


def _record(row: csv_format.ImportRow) -> ContactRecord:
    return ContactRecord(
        external_id=row.external_id,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        phone=row.phone,
        phone_extension=row.phone_extension,
        birthday=row.birthday,
        notes=row.notes,
        email_consent=row.email_consent,
        sms_consent=row.sms_consent,
    )


def _validate(
    tenant: Tenant,
    records: list[tuple[int, list[str]]],
    layout: csv_format.CsvLayout,
    counts: dict[str, int],
    errors: list[dict[str, Any]],
) -> list[tuple[int, csv_format.ImportRow]]:
    """Read every row of the batch (csv_format.clean_row): failed and skipped rows are counted,
    dropped fields listed; the rows to write are returned with their numbers."""
    cleaned: list[tuple[int, csv_format.ImportRow]] = []
    for row_number, cells in records:
        try:
            row = csv_format.clean_row(cells, layout, country=tenant.country)
        except csv_format.RowInvalid as exc:
            counts["failed"] += 1
            errors.append({"row": row_number, "field": exc.field, "reason": exc.reason})
            continue
        if row is None:
            counts["skipped"] += 1
            continue
        for dropped in row.dropped:
            counts[FIELDS_DROPPED] += 1
            errors.append(
                {"row": row_number, "field": dropped.field, "reason": dropped.reason, "kind": "field_dropped"}
            )
        cleaned.append((row_number, row))
    return cleaned


def _validation_failure(row_number: int, exc: ValidationError) -> dict[str, Any]:
    field_name, messages = next(iter(exc.message_dict.items()))
    return {"row": row_number, "field": field_name, "reason": messages[0]}


def _write_set_based(
    tenant: Tenant, cleaned: list[tuple[int, csv_format.ImportRow]], tag_cache: dict[str, Tag], now: datetime.datetime
) -> list[tuple[int, str | ValidationError]]:
    items = [
        (_record(row), list({tag_cache[name.lower()].id: tag_cache[name.lower()] for name in row.tags}.values()))
        for _number, row in cleaned
    ]
    outcomes = client_upsert_many(tenant=tenant, source=Source.CSV, items=items, now=now)
    return [(number, outcome) for (number, _row), outcome in zip(cleaned, outcomes, strict=True)]


def _write_row_by_row(
    tenant: Tenant, cleaned: list[tuple[int, csv_format.ImportRow]], tag_cache: dict[str, Tag], now: datetime.datetime
) -> list[tuple[int, str | ValidationError | IntegrityError]]:
    """The fallback when the database refuses the batch's set-based write (a row conflicts
    with data written at the same time): each row alone, in its own savepoint."""
    results: list[tuple[int, str | ValidationError | IntegrityError]] = []
    for row_number, row in cleaned:
        tags = list({tag_cache[name.lower()].id: tag_cache[name.lower()] for name in row.tags}.values())
        try:
            # One savepoint per row: a failed statement aborts only this row, not the batch.
            with transaction.atomic():
                outcome = client_upsert(tenant=tenant, source=Source.CSV, record=_record(row), tags=tags, now=now)
            results.append((row_number, outcome.outcome))
        except (ValidationError, IntegrityError) as exc:
            if isinstance(exc, IntegrityError):
                logger.warning("client import row refused by the database", exc_info=True, extra={"row": row_number})
            results.append((row_number, exc))
    return results


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block. A batch allocates a few objects
    per row (rows, clients, consent events), all alive until the batch ends: the collector,
    triggered every few hundred allocations, would scan them all again and again (a third
    of a batch's time in the profile) and find nothing to free. It runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# A batch read (csv_format.clean_row of every row): its counts and errors so far, and the rows
# to write with their numbers.
ReadBatch = tuple[dict[str, int], list[dict[str, Any]], list[tuple[int, csv_format.ImportRow]]]


def _read_batch(tenant: Tenant, records: list[tuple[int, list[str]]], layout: csv_format.CsvLayout) -> ReadBatch:
    """Read and check every row of a batch: pure Python, no database (so the next batch can be
    read on another thread while this one is written)."""
    counts = dict.fromkeys((*IMPORT_OUTCOMES, FIELDS_DROPPED), 0)
    errors: list[dict[str, Any]] = []
    cleaned = _validate(tenant, records, layout, counts, errors)
    return counts, errors, cleaned


def _import_batch(
    tenant: Tenant,
    records: list[tuple[int, list[str]]],
    layout: csv_format.CsvLayout,
    tag_cache: dict[str, Tag],
    read: Future[ReadBatch] | None = None,
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Validate every row (or take `read`, the batch read ahead by `_read_batch`), resolve the
    batch's tags, then write the batch set-based (services.client_upsert_many); row by row
    only if the database refuses that."""
    with _collector_paused():
        return _import_batch_now(tenant, records, layout, tag_cache, read)


def _import_batch_now(
    tenant: Tenant,
    records: list[tuple[int, list[str]]],
    layout: csv_format.CsvLayout,
    tag_cache: dict[str, Tag],
    read: Future[ReadBatch] | None,
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    now = timezone.now()
    counts, errors, cleaned = read.result() if read is not None else _read_batch(tenant, records, layout)
    # Tags are created here, before the rows are written: a row that fails must not take with
    # it a tag that later rows (and the cache) rely on.
    for _number, row in cleaned:
        for name in row.tags:
            if name.lower() not in tag_cache:
                tag_cache[name.lower()] = tag_get_or_create(tenant=tenant, name=name)
    results: list[tuple[int, str | ValidationError | IntegrityError]]
    try:
        with transaction.atomic():
            results = list(_write_set_based(tenant, cleaned, tag_cache, now))
    except IntegrityError:
        logger.warning("client import batch refused set-based; writing it row by row", exc_info=True)
        results = _write_row_by_row(tenant, cleaned, tag_cache, now)
    for row_number, outcome in results:
        if isinstance(outcome, ValidationError):
            counts["failed"] += 1
            errors.append(_validation_failure(row_number, outcome))
        elif isinstance(outcome, IntegrityError):
            counts["failed"] += 1
            errors.append({"row": row_number, "field": "", "reason": "The row conflicts with existing data."})
        else:
            counts[outcome] += 1
    if not counts[FIELDS_DROPPED]:
        del counts[FIELDS_DROPPED]  # counted when there are any, like a sync's notes
    return counts, errors


def client_import_csv_chunk(*, tenant: Tenant, job_id: uuid.UUID, priority: int = 0) -> str:
    """One import task's work, under the tenant's fair share (issue 28, tenants.jobs): the
    chunk (CLIENTS_IMPORT_CHUNK_ROWS rows) runs only with one of the tenant's running-chunk
    slots, held until it ends, like every chunked job's (or a lent worker: `priority` is the
    one the task was delivered at, tenants.jobs.tenant_chunk_turn). Returns "deferred" (no free slot: the
    caller enqueues the task again after TENANT_TASK_RETRY_MS), "continued" (rows remain: the
    caller enqueues the next chunk) or "finished" (done, canceled or failed).

    With TENANT_FAIR_SCHEDULING off, the whole file runs in this one task, with no slot (the
    behaviour before issue 28, as jobs.job_run_chunk does)."""
    if not settings.TENANT_FAIR_SCHEDULING:
        client_import_csv(tenant=tenant, job_id=job_id)
        return "finished"
    with jobs.tenant_chunk_turn(tenant.id, priority=priority) as turn:
        if not turn:
            return "deferred"
        more = client_import_csv(tenant=tenant, job_id=job_id, chunk_rows=limit("CLIENTS_IMPORT_CHUNK_ROWS"))
    # The slot is released before the next chunk is enqueued: it competes for it like any task.
    return "continued" if more else "finished"


def client_import_csv(*, tenant: Tenant, job_id: uuid.UUID, chunk_rows: int | None = None) -> bool:
    """Run an import job, or one chunk of it: rows in batches, one transaction per batch
    (rows written set-based, progress and counts together).

    `chunk_rows`: stop after about that many rows and return True when rows remain: the
    caller (clients.tasks) enqueues the next chunk, which resumes at the job's committed
    `progress_done` with its counts and errors carried over, so other tenants' tasks run in
    between. None: the whole file (the benchmark; tests). Returns False once the job is
    finished, canceled (checked before each batch: a cancel stops at the next batch, or the
    next chunk), or failed.

    Idempotent: rows are matched (external id, then email hash, then phone hash) before a
    client is created, and each batch commits with `progress_done`, so a redelivered task
    (a worker killed mid-chunk) resumes after the last committed batch and a re-run of a file
    creates nothing new. Opens its own tenant contexts: call it outside a transaction (or in a
    test's).
    """
    with tenant_context(tenant.id, role="system"):
        job = jobs.job_start(job_id=job_id)
        if job is None:
            return False  # finished or canceled already
        upload = ClientImport.objects.filter(tenant_id=tenant.id, job_id=job_id).first()
        if upload is None:
            jobs.job_finish(job_id=job_id, failure_reason="The uploaded file is no longer available; upload it again.")
            return False
        text, resume_after = upload.content, job.progress_done
    layout = csv_format.read_layout(text)
    batch_size = limit("CLIENTS_IMPORT_BATCH_ROWS")
    records = csv_format.iter_records(text, layout)
    for _ in range(resume_after):
        next(records, None)
    failure = ""
    tag_cache: dict[str, Tag] = {}

    def take(done: int) -> list[tuple[int, list[str]]] | None:
        """The next batch's records; None when the chunk has had its rows ([] at the end)."""
        size = batch_size if chunk_rows is None else min(batch_size, chunk_rows - done)
        return [record for _, record in zip(range(size), records)] if size > 0 else None

    # Each batch is read (checked row by row in Python) on a second thread while the batch
    # before it is written: the reading needs no database, the writing mostly waits for it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-import-read") as reader:
        done = 0
        batch = take(done)
        read = reader.submit(_read_batch, tenant, batch, layout) if batch else None
        while batch:
            following = take(done + len(batch))
            read_following = reader.submit(_read_batch, tenant, following, layout) if following else None
            try:
                with tenant_context(tenant.id, role="system"):
                    if jobs.job_is_canceled(job_id=job_id):
                        return False  # what was written so far is kept; the upload stays with the job
                    counts, errors = _import_batch(tenant, batch, layout, tag_cache, read)
                    jobs.job_advance(job_id=job_id, done=len(batch), counts=counts, errors=errors)
            except Exception:
                logger.exception("client import batch failed", extra={"job_id": str(job_id), "row": batch[0][0]})
                failure = (
                    f"The import stopped at row {batch[0][0]} after an internal error; rows before it were imported."
                )
                break
            done += len(batch)
            batch, read = following, read_following
        if batch is None and next(records, None) is not None:
            return True  # the chunk is over: another one, since the file goes on
    with tenant_context(tenant.id, role="system"):
        jobs.job_finish(job_id=job_id, failure_reason=failure)
        # The file held personal data; once imported it has no further use.
        ClientImport.objects.filter(tenant_id=tenant.id, job_id=job_id).delete()
    return False
