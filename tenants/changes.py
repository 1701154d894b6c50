"""Who changed what: the tenant's append-only change log (`ChangeRecord`).

Services take the actor of a change (a user through the API, a provider sync, a system job,
support staff inside the tenant) and record it here, in the transaction of the change itself:
a change that rolls back leaves no record, and no change commits without one.

    record_change(tenant=tenant, actor=Actor.of(acting_user), action="client.updated",
                  obj=client, fields=["first_name"])

Support staff change a tenant's data only inside it, with a reason (tenants.support.site):
the admin runs their request in `change_reason(reason)`, and every record written meanwhile,
by the admin or by the services it calls, carries that reason.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tenants.context import require_tenant
from tenants.db.bulk import copy_insert
from tenants.models import ChangeRecord, Tenant, User

Kind = ChangeRecord.ActorKind

_reason: ContextVar[str] = ContextVar("brandvx_change_reason", default="")


@contextlib.contextmanager
def change_reason(reason: str) -> Iterator[None]:
    """Every ChangeRecord written in the block says why (support's reason for entering)."""
    token = _reason.set(reason)
    try:
        yield
    finally:
        _reason.reset(token)


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str
    label: str = ""
    user_id: UUID | None = None

    @classmethod
    def of(cls, user: User | None, *, otherwise: str = "system") -> Actor:
        """The API's acting user; without one, the system (`otherwise` names the job)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return cls.system(otherwise)
        kind = Kind.SUPPORT if user.is_staff else Kind.USER  # platform staff are never tenant members
        return cls(kind=kind, label=(user.email or user.username)[:254], user_id=user.id)

    @classmethod
    def provider(cls, name: str) -> Actor:
        return cls(kind=Kind.PROVIDER, label=name)

    @classmethod
    def system(cls, what: str) -> Actor:
        return cls(kind=Kind.SYSTEM, label=what)


def _actor(actor: Actor | User | None) -> Actor:
    return actor if isinstance(actor, Actor) else Actor.of(actor)


def _record(
    tenant: Tenant,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any,
    fields: Iterable[str],
    detail: str = "",
) -> ChangeRecord:
    return ChangeRecord(
        tenant=tenant,
        actor_kind=actor.kind,
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        fields=sorted(set(fields)),
        reason=_reason.get()[:500],
        detail=detail[:500],
    )


def record_change(
    *,
    tenant: Tenant,
    actor: Actor | User | None,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: Any = None,
    fields: Iterable[str] = (),
    detail: str = "",
) -> ChangeRecord:
    """`actor`: an Actor, or the API's acting user (None: the system). `detail`: what the
    change was when that is no personal data (a member's new role); usually empty."""
    require_tenant(tenant)
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = obj.pk if object_id is None else object_id
    record = _record(tenant, _actor(actor), action, object_type, object_id, fields, detail)
    record.save(force_insert=True)
    return record


def record_changes(
    *, tenant: Tenant, actor: Actor | User | None, action: str, object_type: str, object_ids: Iterable[Any]
) -> int:
    """One row per object, in one INSERT (bulk actions, a provider's page of records)."""
    require_tenant(tenant)
    who = _actor(actor)
    rows = [_record(tenant, who, action, object_type, object_id, ()) for object_id in object_ids]
    ChangeRecord.objects.bulk_create(rows)
    return len(rows)


def record_changes_each(
    *,
    tenant: Tenant,
    actor: Actor | User | None,
    entries: Iterable[tuple[str, str, Any, Iterable[str]]],
    occurred_at: datetime.datetime,
) -> int:
    """Many records, each (action, object type, object id, fields), written set-based (COPY
    into a staging table, one INSERT ... SELECT): the bulk imports' writer. `occurred_at`: the
    first record's time; each next one is a microsecond later, so the log keeps their order."""
    require_tenant(tenant)
    who = _actor(actor)
    step = datetime.timedelta(microseconds=1)
    # The values `_record` gives each row, without a model instance per row (an import writes
    # one record per client).
    new_id, reason = ChangeRecord._meta.pk.get_default, _reason.get()[:500]
    rows = [
        (
            new_id(),
            tenant.id,
            occurred_at + n * step,
            who.kind,
            who.user_id,
            who.label,
            action,
            object_type,
            str(object_id or ""),
            json.dumps(sorted(set(fields))) if fields else "[]",
            reason,
            "",
        )
        for n, (action, object_type, object_id, fields) in enumerate(entries)
    ]
    return copy_insert(
        ChangeRecord,
        (
            "id",
            "tenant_id",
            "occurred_at",
            "actor_kind",
            "actor_user_id",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "fields",
            "reason",
            "detail",
        ),
        rows,
    )
