"""A business leaving the platform: a scheduled deletion, its grace period, and the purge.

- `tenant_deletion_request`: the owner asks (`POST /api/v1/tenant/delete/`); the tenant is
  read-only from then on (every write of the API answers 423 `tenant_pending_deletion`, but
  the export and the cancellation) until `deletion_due_at`, TENANT_DELETION_GRACE_DAYS later.
- `tenant_deletion_cancel`: the owner changes their mind before then.
- `tenants_purge_due` (beat, hourly) purges every tenant whose deletion is due;
  `manage.py purge_tenant <id>` purges one at once, for support.
- `dangerously_purge_tenant` deletes every row of the tenant from every table that has a
  `tenant_id` column (found in the catalog, not listed: memberships, credentials,
  connections, the audit and change logs, the consent ledger...), the rows of other tables
  that point at the tenant (webhook routes), the tenant row itself and its export files, and
  leaves a `TenantTombstone` (the id, a keyed hash of the name, the dates, who purged it).
"""

from __future__ import annotations

import datetime
import graphlib
import logging
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import OperationalError, connections, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone
from django.utils.crypto import salted_hmac
from psycopg.errors import DeadlockDetected

from common.errors import Conflict, Locked
from tenants.changes import record_change
from tenants.context import require_tenant, tenant_context
from tenants.db.sharding import is_citus, tenant_tables
from tenants.models import Tenant, TenantTombstone, User

logger = logging.getLogger("brandvx.tenants.lifecycle")


class TenantPendingDeletion(Locked):
    code = "tenant_pending_deletion"
    default_detail = (
        "This business is scheduled for deletion and is read-only until then. Its owner can cancel the "
        "deletion (POST /api/v1/tenant/delete/cancel/) or export its data (POST /api/v1/tenant/export/)."
    )


class DeletionState(Conflict):
    code = "deletion_state"
    default_detail = "The business's deletion is not in a state that allows this."


def tenant_deletion_request(
    *, tenant: Tenant, acting_user: User | None = None, now: datetime.datetime | None = None
) -> Tenant:
    """Schedule the tenant's deletion after the grace period. DeletionState (409) if it is
    scheduled already."""
    require_tenant(tenant)
    now = now or timezone.now()
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(id=tenant.id)
        if locked.deletion_due_at is not None:
            raise DeletionState(message=f"The deletion is scheduled already, for {locked.deletion_due_at.isoformat()}.")
        locked.deletion_requested_at = now
        locked.deletion_due_at = now + datetime.timedelta(days=settings.TENANT_DELETION_GRACE_DAYS)
        locked.save(update_fields=["deletion_requested_at", "deletion_due_at"])
        record_change(
            tenant=tenant,
            actor=acting_user,
            action="tenant.deletion_requested",
            obj=locked,
            fields=["deletion_due_at"],
        )
    return locked


def tenant_deletion_cancel(*, tenant: Tenant, acting_user: User | None = None) -> Tenant:
    """Cancel a scheduled deletion. DeletionState (409) when none is scheduled."""
    require_tenant(tenant)
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(id=tenant.id)
        if locked.deletion_due_at is None:
            raise DeletionState(message="No deletion is scheduled.")
        locked.deletion_requested_at = locked.deletion_due_at = None
        locked.save(update_fields=["deletion_requested_at", "deletion_due_at"])
        record_change(
            tenant=tenant, actor=acting_user, action="tenant.deletion_canceled", obj=locked, fields=["deletion_due_at"]
        )
    return locked


# --- the purge ---------------------------------------------------------------------------


@dataclass
class PurgeResult:
    tenant_id: uuid.UUID
    deleted: dict[str, int] = field(default_factory=dict)


def name_hash(name: str) -> str:
    """The tombstone's keyed hash of a tenant's name (DJANGO_SECRET_KEY): support can check a
    name they are given against it; nobody can read it back."""
    return salted_hmac("brandvx.tenants.tombstone", name.strip().lower(), algorithm="sha256").hexdigest()


PURGE_PASSES = 5
# Whole purges tried before a deadlock is let through (each is one transaction: all or nothing).
PURGE_ATTEMPTS = 3


def _deletion_order(cursor: CursorWrapper, tables: list[str]) -> list[str]:
    """Tenant tables, each after every tenant table that references it (children first)."""
    cursor.execute(
        """
        SELECT child.relname, parent.relname FROM pg_constraint con
        JOIN pg_class child ON child.oid = con.conrelid
        JOIN pg_class parent ON parent.oid = con.confrelid
        WHERE con.contype = 'f' AND child.relnamespace = current_schema()::regnamespace
        """
    )
    wanted = set(tables)
    referenced_by: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in cursor.fetchall():
        if child in wanted and parent in wanted and child != parent:
            referenced_by[parent].add(child)
    return list(graphlib.TopologicalSorter(referenced_by).static_order())


def _rows_pointing_at_tenant(cursor: CursorWrapper, exclude: set[str]) -> list[tuple[str, str]]:
    """(table, column) of the foreign keys to tenants_tenant outside the tenant tables
    (the webhook routes' routed_tenant_id)."""
    cursor.execute(
        """
        SELECT child.relname, att.attname FROM pg_constraint con
        JOIN pg_class child ON child.oid = con.conrelid
        JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = con.conkey[1]
        WHERE con.contype = 'f' AND con.confrelid = 'tenants_tenant'::regclass AND array_length(con.conkey, 1) = 1
        """
    )
    return sorted((table, column) for table, column in cursor.fetchall() if table not in exclude)


def set_local(cursor: CursorWrapper, name: str, value: str) -> None:
    """A transaction-local setting for the owner's maintenance statements (the purge, the
    audit retention), which the audit log's trigger reads. On Citus as SET LOCAL, which
    reaches the workers (tenants.context explains why); elsewhere set_config()."""
    if is_citus(cursor.db):
        literal = "'" + value.replace("'", "''") + "'"
        cursor.execute("SET LOCAL citus.propagate_set_commands = 'local'")
        cursor.execute(f"SET LOCAL {name} = {literal}")
    else:
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def dangerously_purge_tenant(
    tenant_id: uuid.UUID | str, *, purged_by: str, now: datetime.datetime | None = None
) -> PurgeResult:
    """Delete every row of a tenant, everywhere, and leave its tombstone. Irreversible.

    Runs as the database owner (the `owner` alias), the only role that may delete from the
    append-only logs: inside the tenant's own context (so FORCEd row level security lets it
    see and delete exactly that tenant's rows, and no other) and with `app.purge_tenant_id`
    naming the tenant (the support audit's trigger allows the owner's deletes of that tenant
    only then). One transaction: all of it or nothing. On Citus every DELETE names its
    tenant, so each is a router query to the tenant's shard; the reference tables
    (the routes, the tenant) are changed last, in the same transaction, in sequential mode.
    """
    tenant_uuid = uuid.UUID(str(tenant_id))
    now = now or timezone.now()
    for attempt in range(1, PURGE_ATTEMPTS + 1):
        try:
            result = _purge_in_one_transaction(tenant_uuid, purged_by=purged_by, now=now)
            break
        except OperationalError as exc:
            # A deadlock cancels the whole transaction, so nothing was purged: try it again.
            # On Citus one was seen at COMMIT (a distributed deadlock: the deletes' locks on
            # the tenant's shard against other work on the cluster), once in many runs.
            # Only when the purge was the transaction: inside a caller's, that one is lost too.
            retry = isinstance(exc.__cause__, DeadlockDetected) and not connections["owner"].in_atomic_block
            if not retry or attempt == PURGE_ATTEMPTS:
                raise
            logger.warning("tenant purge deadlocked; trying again", extra={"tenant_id": str(tenant_uuid)})
    export_dir = Path(settings.TENANT_EXPORT_DIR) / str(tenant_uuid)
    shutil.rmtree(export_dir, ignore_errors=True)
    logger.warning(
        "tenant purged",
        extra={"tenant_id": str(tenant_uuid), "purged_by": purged_by, "rows": sum(result.deleted.values())},
    )
    return result


def _purge_in_one_transaction(tenant_uuid: uuid.UUID, *, purged_by: str, now: datetime.datetime) -> PurgeResult:
    owner = connections["owner"]
    result = PurgeResult(tenant_id=tenant_uuid)
    with tenant_context(tenant_uuid, role="system", using="owner"), owner.cursor() as cursor:
        cursor.execute(
            "SELECT name, created_at, deletion_requested_at FROM tenants_tenant WHERE id = %s FOR UPDATE",
            [tenant_uuid],
        )
        found = cursor.fetchone()
        if found is None:
            raise Tenant.DoesNotExist(f"No tenant {tenant_uuid}.")
        name, created_at, requested_at = found
        if is_citus(owner):
            cursor.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        set_local(cursor, "app.purge_tenant_id", str(tenant_uuid))
        tables = tenant_tables(cursor)
        order = _deletion_order(cursor, tables)
        # Triggers may write rows while others go (the insight aggregates are recomputed when
        # sales and visits are deleted): passes until one deletes nothing.
        for _ in range(PURGE_PASSES):
            deleted_in_pass = 0
            for table in order:
                cursor.execute(f"DELETE FROM {_quote(table)} WHERE tenant_id = %s", [tenant_uuid])
                if cursor.rowcount:
                    result.deleted[table] = result.deleted.get(table, 0) + cursor.rowcount
                    deleted_in_pass += cursor.rowcount
            if not deleted_in_pass:
                break
        else:
            raise RuntimeError(f"tenant {tenant_uuid}: rows still appear after {PURGE_PASSES} purge passes")
        for table, column in _rows_pointing_at_tenant(cursor, set(tables)):
            cursor.execute(f"DELETE FROM {_quote(table)} WHERE {_quote(column)} = %s", [tenant_uuid])
            if cursor.rowcount:
                result.deleted[table] = cursor.rowcount
        cursor.execute("DELETE FROM tenants_tenant WHERE id = %s", [tenant_uuid])
        result.deleted["tenants_tenant"] = cursor.rowcount
        TenantTombstone.objects.using("owner").create(
            id=tenant_uuid,
            name_hash=name_hash(name),
            tenant_created_at=created_at,
            deletion_requested_at=requested_at,
            purged_at=now,
            purged_by=purged_by[:254],
        )
    return result


def tenants_purge_due(*, now: datetime.datetime | None = None) -> list[uuid.UUID]:
    """Purge every tenant whose deletion is due (beat). Each in its own transaction: one that
    fails is logged and retried at the next run; the others go ahead."""
    now = now or timezone.now()
    due = list(
        Tenant.objects.filter(deletion_due_at__isnull=False, deletion_due_at__lte=now).values_list("id", flat=True)
    )
    purged = []
    for tenant_id in due:
        try:
            dangerously_purge_tenant(tenant_id, purged_by="beat: scheduled deletion", now=now)
            purged.append(tenant_id)
        except Exception:
            logger.exception("purging tenant %s failed; retried at the next run", tenant_id)
    return purged
