"""Tenants, users, memberships, background jobs and the support audit log."""

from __future__ import annotations

import datetime
import uuid
import zoneinfo
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.expressions import Col
from django.db.models.lookups import Exact
from django.db.models.sql import Query
from django.db.models.sql.where import AND

from common.errors import InvalidInput, NotFound
from tenants.context import current


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/London).")


class User(AbstractUser):
    """A person. For Supabase users the primary key *is* the token's `sub`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        db_table = "tenants_user"


class Tenant(models.Model):
    """A business: a salon or an independent professional. The registry, not tenant data."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    currency = models.CharField(max_length=3, default="USD")
    country = models.CharField(max_length=2, default="US", help_text="ISO 3166 code; default phone region.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A deletion the owner asked for (tenants.lifecycle): the tenant is read-only until
    # `deletion_due_at`, when beat purges it, unless the owner cancels first.
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    deletion_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        # Platform staff need this, not just is_staff, for any page of the support admin.
        permissions = [("support_access", "Can use the support admin (tenants' data, audited)")]

    def __str__(self) -> str:
        return self.name

    @property
    def pending_deletion(self) -> bool:
        return self.deletion_due_at is not None

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def today(self, now: datetime.datetime | None = None) -> datetime.date:
        """Today's date where the business is (not on the server, not in UTC)."""
        from django.utils import timezone

        return (now or timezone.now()).astimezone(self.tzinfo).date()


_M = TypeVar("_M", bound=models.Model)


def for_tenant(queryset: models.QuerySet[_M], tenant: Tenant | uuid.UUID | str) -> models.QuerySet[_M]:
    """`queryset` limited to one tenant's rows: `tenant_id = <tenant>` is added unless every
    row it can return must already satisfy exactly that condition. The one way a statement in
    a service or selector names its tenant (brandvx/tests/test_conventions.py checks it).

    The manager, the tenant views and the selectors each name the tenant; a queryset that
    passes through several of them (a view's base from a selector, in a tenant context)
    would otherwise carry the same condition two or three times, and pay for building and
    compiling each copy on every request.
    """
    tenant_id = tenant.id if isinstance(tenant, Tenant) else tenant
    tenant_uuid = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    if _requires_tenant(queryset.query, tenant_uuid):
        return queryset
    return queryset.filter(tenant_id=tenant_uuid)


def get_in_tenant(
    queryset: models.QuerySet[_M] | type[_M],
    object_id: object,
    *,
    tenant: Tenant,
    field: str | None = None,
    lock: bool = False,
) -> _M:
    """The tenant's object with id `object_id`: the one "find this id in the tenant" of every
    app. A malformed id, a missing one and another tenant's answer alike, so the answer reveals
    nothing: `NotFound` (404) when the path named the object, or `InvalidInput` naming `field`
    (400) when an input of the request carried the id (a sale's `client`)."""
    if isinstance(queryset, type):
        queryset = queryset._default_manager.all()
    try:
        object_uuid = object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(str(object_id))
    except ValueError:
        object_uuid = None
    found = None
    if object_uuid is not None:
        selected = for_tenant(queryset, tenant).filter(pk=object_uuid)
        found = (selected.select_for_update() if lock else selected).first()
    if found is None:
        if field is not None:
            raise InvalidInput(field, "not found.")
        raise NotFound(f"No such {queryset.model._meta.verbose_name} in this tenant.")
    return found


def _requires_tenant(query: Query, tenant_id: uuid.UUID) -> bool:
    """True when the query's WHERE is an AND (not negated) of terms, one of which is
    `<its own table>.tenant_id = tenant_id` with a plain value. Nothing else is read as the
    condition: not a term inside an OR or a NOT, not another table's (a join's) column, not
    an expression on the right."""
    where = query.where
    if not where.children or where.connector != AND or where.negated or query.combinator:
        return False
    # The first alias is the query's own table (not Query.base_table: a cached property, which
    # read before the query has a table would keep None for good).
    base_table = next(iter(query.alias_map), None)
    for term in where.children:
        if (
            isinstance(term, Exact)
            and isinstance(term.lhs, Col)
            and term.lhs.alias == base_table
            and term.lhs.target.attname == "tenant_id"
            and isinstance(term.rhs, uuid.UUID)
            and term.rhs == tenant_id
        ):
            return True
    return False


class TenantManager(models.Manager[_M]):
    """Querysets scoped to the active tenant context's tenant, when there is one.

    RLS is the boundary either way; this names the tenant in the query itself, so on Citus
    every query of a tenant context goes to that tenant's shard (a router query; Citus runs
    SELECT ... FOR UPDATE only so). Outside a tenant context (support reads, sweeps) nothing
    is added. Django's base manager (used by save() and deletion) stays unscoped.
    """

    def get_queryset(self) -> models.QuerySet[_M]:
        queryset = super().get_queryset()
        ctx = current()
        if ctx is not None and ctx.tenant_id is not None:
            queryset = for_tenant(queryset, ctx.tenant_id)
        return queryset


class TenantModel(models.Model):
    """Base for every tenant-scoped table: `tenant_id` NOT NULL and an index leading with it.

    Subclasses must also get `tenants.db.rls.enable_rls(...)` and `tenants.db.sharding.tenant_keys(...)`
    in a migration, and declare foreign keys to tenant models `tenants.db.sharding.TenantForeignKey`
    (the database constraint is the composite one tenant_keys adds); the isolation
    tests discover every table with a `tenant_id` column and fail if RLS is missing.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False, editable=False)

    objects = TenantManager()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER_ADMIN = "owner_admin", "Owner / admin"
    STAFF = "staff", "Staff"
    VIEWER = "viewer", "Viewer"


class Membership(TenantModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.STAFF)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_tenant_user"),
        ]
        indexes = [models.Index(fields=["user", "tenant"], name="membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant_id} ({self.role})"


class BackgroundJob(TenantModel):
    """A long-running unit of work (import, birthday batch, sync) that the UI polls."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)
    MAX_ERRORS = 100

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress_total = models.PositiveIntegerField(default=0)
    progress_done = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    errors_truncated = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    # A chunked job's position (tenants.jobs.job_run_chunk): the next chunk's number and where
    # it starts. Written in the transaction of the chunk it follows, never shown by the API.
    checkpoint = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="job_tenant_created_idx"),
            # tenants.jobs.bulk_priority counts a tenant's unfinished jobs for every chunk.
            models.Index(
                fields=["tenant"],
                condition=models.Q(status__in=["queued", "running"]),
                name="job_tenant_unfinished_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"


class SupportAccess(TenantModel):
    """Append-only audit of platform staff touching a tenant's data (read or write)."""

    append_only = True  # tenants.db.roles revokes UPDATE and DELETE (and migration 0002's trigger refuses them)

    class Action(models.TextChoices):
        VIEW = "view"
        ENTER = "enter"
        CHANGE = "change"
        LEAVE = "leave"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    staff_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    reason = models.TextField(blank=True)
    path = models.CharField(max_length=500, blank=True)
    detail = models.CharField(
        max_length=500, blank=True, help_text="What a change was, when it is no personal data (a member's new role)."
    )
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    occurred_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name_plural = "support accesses"
        indexes = [models.Index(fields=["tenant", "-occurred_at"], name="support_access_tenant_idx")]

    def __str__(self) -> str:
        return f"{self.action} of {self.tenant_id} by {self.staff_user_id} at {self.occurred_at}"


class ChangeRecord(TenantModel):
    """Append-only: who changed what in a tenant's data (a user, a provider sync, the system,
    support staff inside the tenant). Written by services through `tenants.changes`; the
    tenant's owner reads it at /api/v1/change-log/. Field names only, never values: the log
    must not become a second copy of clients' personal data."""

    append_only = True  # tenants.db.roles revokes UPDATE and DELETE from the runtime role

    class ActorKind(models.TextChoices):
        USER = "user"
        PROVIDER = "provider"
        SYSTEM = "system"
        SUPPORT = "support"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    occurred_at = models.DateTimeField(auto_now_add=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    # Not a foreign key: an append-only row must outlive (and never be rewritten by) the
    # deletion of the user it names.
    actor_user_id = models.UUIDField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True, help_text="The user's e-mail, the provider, or the job.")
    action = models.CharField(max_length=64, help_text="e.g. client.created, client.updated, draft.approved")
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    fields = models.JSONField(default=list, blank=True, help_text="Names of the fields that changed.")
    reason = models.CharField(max_length=500, blank=True, help_text="Support's stated reason for entering the tenant.")
    detail = models.CharField(
        max_length=500, blank=True, help_text="What the change was, when it is no personal data (a member's new role)."
    )

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["tenant", "-occurred_at", "-id"], name="change_tenant_occurred_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor_kind}:{self.actor_label}"


class TenantTombstone(models.Model):
    """What is left of a purged tenant (tenants.lifecycle): its id, a keyed hash of its name
    and the dates. Not tenant data (no tenant_id column: the tenant is gone): written by the
    purge, as the database owner; read-only to the application."""

    id = models.UUIDField(primary_key=True, editable=False, help_text="The purged tenant's id.")
    name_hash = models.CharField(max_length=64)
    tenant_created_at = models.DateTimeField()
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField()
    purged_by = models.CharField(max_length=254, help_text="beat (a scheduled deletion) or the support engineer.")

    class Meta:
        ordering = ["-purged_at"]

    def __str__(self) -> str:
        return f"tenant {self.id} purged {self.purged_at:%Y-%m-%d}"
