"""Limits of the clients app. Each can be overridden in Django settings under the same name
(read at call time, so tests can use `settings` overrides)."""

from django.conf import settings

DEFAULTS = {
    # An upload above this is refused before it is read: a salon's client list is far smaller.
    "CLIENTS_IMPORT_MAX_BYTES": 10 * 1024 * 1024,
    # Data rows (header excluded) one import may hold.
    "CLIENTS_IMPORT_MAX_ROWS": 50_000,
    # Rows written per transaction by the import job (set-based: one COPY and one INSERT /
    # UPDATE per table per batch); progress is committed with each batch.
    "CLIENTS_IMPORT_BATCH_ROWS": 2_000,
    # Rows one import task handles before it ends and enqueues the next chunk of the job
    # (issue 28: other tenants' tasks run in between).
    "CLIENTS_IMPORT_CHUNK_ROWS": 10_000,
    # Rows read per query (and per short transaction) while streaming an export.
    "CLIENTS_EXPORT_CHUNK_ROWS": 2_000,
    # Duplicate groups returned at most by one request.
    "CLIENTS_DUPLICATE_GROUPS_MAX": 200,
}


def limit(name: str) -> int:
    return getattr(settings, name, DEFAULTS[name])
