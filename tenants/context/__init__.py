"""The tenant context: who is acting, for which tenant, with which role.

One Python-side context variable holds it; one database hook turns it into PostgreSQL's
transaction-local settings (`app.tenant_id`, `app.user_id`) that the RLS policies read.
Nothing outside this module writes those settings. The role stays in Python: no policy reads
it (roles are enforced by the views, tenants.views), and leaving it out of the database lets
a request's membership lookup and its view share one context statement (see
`membership_lookup_context`).

The invariant the hook keeps: *every statement runs with the settings equal to the
context active in Python at that moment*, at the cost of at most one `set_config`
statement per transaction (more only if code switches context inside one transaction).
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from django.conf import settings
from django.db import transaction
from psycopg.pq import TransactionStatus

from brandvx.settings.env import ROLE_NAME  # the settings validate role names with the same pattern
from tenants.errors import TenantContextError

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Model, QuerySet

    from tenants.models import Tenant


# Roles a context may carry: membership roles, plus `system` for background work that a
# tenant's own configuration started (beat schedules, syncs) and `support` for staff.
CONTEXT_ROLES = {"owner_admin", "staff", "viewer", "system", "support"}


@dataclass(frozen=True, slots=True)
class TenantContext:
    tenant_id: uuid.UUID | None
    user_id: uuid.UUID | None
    role: str
    # A database role to switch to for this context (the support role); None = runtime role.
    db_role: str | None = None
    # Only for membership_lookup_context: the tenant a request names, not verified yet. Sent
    # to the database with the user (so the view's context, once verified, is already there)
    # but never the Python-side tenant: current_tenant_id() does not see it.
    pending_tenant_id: uuid.UUID | None = None
    # The statement_timeout of this context's statements; None = a request's
    # (DATABASE_STATEMENT_TIMEOUT_MS). tenant_context() gives background work a longer one.
    statement_timeout_ms: int | None = None

    def __post_init__(self) -> None:
        if self.role not in CONTEXT_ROLES and self.role != "":
            raise TenantContextError(f"unknown context role {self.role!r}")
        if self.pending_tenant_id is not None and self.tenant_id is not None:
            raise TenantContextError("a context has a tenant or a pending one, not both")

    def settings_tuple(self) -> tuple[str, str, str | None, str]:
        """What the database is told: the tenant (or the pending one), the user, the db role,
        the statement timeout (milliseconds)."""
        tenant = self.tenant_id or self.pending_tenant_id
        timeout = self.statement_timeout_ms
        if timeout is None:
            timeout = settings.DATABASE_STATEMENT_TIMEOUT_MS
        return (
            str(tenant) if tenant else "",
            str(self.user_id) if self.user_id else "",
            self.db_role,
            str(int(timeout)),
        )


_current: contextvars.ContextVar[TenantContext | None] = contextvars.ContextVar("brandvx_tenant_context", default=None)


def current() -> TenantContext | None:
    return _current.get()


def current_tenant_id() -> uuid.UUID:
    """The active tenant's id; raises if there is none (use in services and selectors)."""
    ctx = _current.get()
    if ctx is None or ctx.tenant_id is None:
        raise TenantContextError("no tenant context is active")
    return ctx.tenant_id


def require_tenant(tenant: Tenant) -> None:
    """Services call this first: the tenant they were given must be the active context's.

    A service handed one tenant while the database context holds another would read nothing
    (or write rows RLS then refuses): stop before any statement, and name the mistake.
    """
    if current_tenant_id() != tenant.id:
        raise TenantContextError("the active tenant context is not the tenant passed to the service")


@contextlib.contextmanager
def activate(ctx: TenantContext | None) -> Iterator[TenantContext | None]:
    """Make `ctx` the current context for the block. Does not open a transaction."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def _as_uuid(value: uuid.UUID | str | None, what: str) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise TenantContextError(f"{what} is not a UUID: {value!r}") from None


@contextlib.contextmanager
def tenant_context(
    tenant_id: uuid.UUID | str,
    *,
    role: str,
    user_id: uuid.UUID | str | None = None,
    using: str = "default",
    statement_timeout_ms: int | None = None,
) -> Iterator[TenantContext]:
    """Enter a tenant for code that is not a request: Celery tasks, commands, the shell.

    Opens a transaction (the settings are transaction-local) and sets the context; both end
    together. The role must be stated: background work has no membership to borrow one from.
    Statements get the background statement_timeout (DATABASE_TASK_STATEMENT_TIMEOUT_MS)
    unless `statement_timeout_ms` says otherwise (0: none).
    """
    if statement_timeout_ms is None:
        statement_timeout_ms = settings.DATABASE_TASK_STATEMENT_TIMEOUT_MS
    ctx = TenantContext(
        tenant_id=_as_uuid(tenant_id, "tenant_id"),
        user_id=_as_uuid(user_id, "user_id"),
        role=role,
        statement_timeout_ms=statement_timeout_ms,
    )
    if ctx.tenant_id is None:
        raise TenantContextError("tenant_context needs a tenant id")
    with transaction.atomic(using=using), activate(ctx):
        yield ctx


@contextlib.contextmanager
def user_context(user_id: uuid.UUID, *, using: str = "default") -> Iterator[TenantContext]:
    """A context with a user and no tenant: enough to read that user's own memberships.

    Joins the caller's transaction when there is one (a request's): no savepoint, and the
    context ends before that transaction does. Otherwise opens its own.
    """
    ctx = TenantContext(tenant_id=None, user_id=_as_uuid(user_id, "user_id"), role="")
    with transaction.atomic(using=using, savepoint=False), activate(ctx):
        yield ctx


@contextlib.contextmanager
def membership_lookup_context(
    user_id: uuid.UUID, *, requested_tenant_id: uuid.UUID | None, using: str = "default"
) -> Iterator[TenantContext]:
    """user_context for a request's membership lookup, carrying the tenant the request names
    (header, claim or sign-in choice) to the database before it is verified.

    When the caller is a member of it, the view's context (that tenant, that user) is what
    the database already holds: the request needs one context statement, not two. When the
    caller is not, the view gets no context, and the hook resets the settings before any
    later statement. Only the lookup runs in this block: one fixed statement filtered by the
    user (tenants.context.resolution.active_memberships), and the user's row. RLS lets it read the
    user's own memberships (the self-read policy) whatever tenant is pending, and Python code
    sees no tenant here (current_tenant_id() raises).
    """
    ctx = TenantContext(
        tenant_id=None, user_id=_as_uuid(user_id, "user_id"), role="", pending_tenant_id=requested_tenant_id
    )
    with transaction.atomic(using=using, savepoint=False), activate(ctx):
        yield ctx


@contextlib.contextmanager
def request_context(ctx: TenantContext | None, *, using: str = "default") -> Iterator[TenantContext | None]:
    """The context of a request being served, for the block that runs (and renders) the view.

    The context lives strictly inside a transaction: the block joins the request's
    transaction (ATOMIC_REQUESTS) or opens one, and the context is reset before that
    transaction ends. So nothing rendered or run later (a template, a streamed body, a
    response middleware) can query with a context and no transaction: it runs with no
    context at all, and RLS answers it with zero rows.
    """
    if ctx is None:
        with activate(None):
            yield None
        return
    with transaction.atomic(using=using, savepoint=False), activate(ctx):
        yield ctx


@contextlib.contextmanager
def dangerously_support_read_context(
    *, staff_user_id: uuid.UUID | None, using: str = "default"
) -> Iterator[TenantContext]:
    """Read EVERY tenant's rows, for platform support staff. Read-only, and risky by design.

    Switches the transaction to the support database role, which has SELECT on every table,
    INSERT on the audit log (as itself) and nothing else, and whose policies allow reading
    all tenants. Callers must write a `SupportAccess` row for each tenant whose data they
    show (tenants.support.site does).
    """
    ctx = TenantContext(
        tenant_id=None,
        user_id=_as_uuid(staff_user_id, "staff_user_id"),
        role="support",
        db_role=settings.DATABASE_SUPPORT_ROLE,
    )
    with transaction.atomic(using=using), activate(ctx):
        yield ctx


def dangerously_ids_by_tenant(queryset: QuerySet[Model]) -> dict[uuid.UUID, list[Any]]:
    """Ids of `queryset`'s rows in EVERY tenant, grouped by tenant, for system sweeps.

    Reads in the read-only support context. Callers then act on each tenant's ids inside
    `tenant_context(tenant_id, ...)`, re-checking their conditions there.
    """
    grouped: dict[uuid.UUID, list[Any]] = {}
    with dangerously_support_read_context(staff_user_id=None):
        for tenant_id, row_id in queryset.values_list("tenant_id", "pk"):
            grouped.setdefault(tenant_id, []).append(row_id)
    return grouped


def _literal(value: str) -> str:
    # Values are UUID strings or validated role names; quoting is still done properly.
    return "'" + value.replace("'", "''") + "'"


_Settings = tuple[str, str, str | None, str]  # TenantContext.settings_tuple()


def _set_config_sql(
    wanted: tuple[str, str, str | None] | _Settings, applied: _Settings | None, *, citus: bool = False
) -> str:
    """The context statement. `wanted` may leave out the statement timeout (then unchanged)."""
    tenant, user, db_role = wanted[:3]
    timeout = wanted[3] if len(wanted) > 3 else ""
    if timeout and not timeout.isdigit():
        raise TenantContextError(f"refusing to set an invalid statement timeout {timeout!r}")
    if db_role and not ROLE_NAME.fullmatch(db_role):
        raise TenantContextError(f"refusing to set an invalid role name {db_role!r}")
    previous_db_role = applied[2] if applied else None
    if applied is _UNKNOWN:
        previous_db_role = "unknown"
    if citus:
        # Citus replays a transaction's SET LOCAL commands on the worker connections it opens
        # (with citus.propagate_set_commands = 'local'); set_config() would stay on the
        # coordinator and the shards would see no tenant. Sent as one statement of its own:
        # folded into a query's string, Citus refuses the query.
        parts = [
            "SET LOCAL citus.propagate_set_commands = 'local'",
            f"SET LOCAL app.tenant_id = {_literal(tenant)}",
            f"SET LOCAL app.user_id = {_literal(user)}",
        ]
        if db_role or previous_db_role:
            parts.append(f"SET LOCAL ROLE {_literal(db_role) if db_role else 'NONE'}")
        if timeout:
            # Propagated to the shards with the rest: each shard's statement is bounded too.
            parts.append(f"SET LOCAL statement_timeout = {timeout}")
        return "; ".join(parts)
    parts = [
        f"set_config('app.tenant_id', {_literal(tenant)}, true)",
        f"set_config('app.user_id', {_literal(user)}, true)",
    ]
    if db_role or previous_db_role:
        # SET LOCAL ROLE, as PostgREST does it; 'none' returns to the login (runtime) role.
        parts.append(f"set_config('role', {_literal(db_role or 'none')}, true)")
    if timeout:
        # Takes effect for the statement this one is folded with: PostgreSQL (13+) starts each
        # statement's timer of a multi-statement query separately, with the value then current.
        parts.append(f"set_config('statement_timeout', {_literal(timeout)}, true)")
    return "SELECT " + ", ".join(parts)


_UNKNOWN: _Settings = ("?", "?", "?", "?")  # never equal to a real context's settings


def _hook(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Django execute wrapper: install the context's settings before the statement runs."""
    conn = context["connection"]
    ctx = _current.get()
    wanted = ctx.settings_tuple() if ctx is not None else None
    # psycopg knows whether a transaction is open: IDLE means the statement about to run
    # starts a new one, whose settings start empty (the previous ones died with its commit).
    if conn.connection.info.transaction_status == TransactionStatus.IDLE:
        conn._brandvx_applied = None
    if isinstance(sql, str) and sql.startswith("ROLLBACK TO SAVEPOINT"):
        # Settings made inside the savepoint are undone with it: we no longer know what the
        # server holds, so the next statement sets them again.
        result = execute(sql, params, many, context)
        conn._brandvx_applied = _UNKNOWN
        return result
    applied = getattr(conn, "_brandvx_applied", None)
    if wanted == applied:
        return execute(sql, params, many, context)
    if conn.get_autocommit():
        if wanted is None:
            return execute(sql, params, many, context)
        # set_config(..., true) outside a transaction would vanish before the query ran, and
        # the query would run unscoped. Refuse loudly instead.
        raise TenantContextError(
            "a query ran with a tenant context but outside a transaction; use tenant_context() or transaction.atomic()"
        )
    citus = getattr(conn, "_brandvx_citus", False)
    # No context: the settings are cleared; the statement timeout stays what it was.
    prefix = _set_config_sql(wanted or ("", "", None, ""), applied, citus=citus)
    conn._brandvx_applied = wanted
    cursor = context["cursor"].cursor
    if not many and not citus and isinstance(cursor, psycopg.ClientCursor):
        # Fold the settings into the statement's own round trip: client-side binding sends
        # both with the simple query protocol; nextset() skips to the statement's own results.
        result = execute(prefix + "; " + sql, params, many, context)
        cursor.nextset()
        return result
    if not many and isinstance(cursor, psycopg.ClientCursor):
        # Citus: the settings as a statement of their own, on the same cursor (so statement
        # logs see them), then the statement.
        execute(prefix, None, many, context)
        return execute(sql, params, many, context)
    # executemany, server-side (named) cursors and Citus cannot carry a second statement:
    # the settings go first, as their own statement.
    with conn.connection.cursor() as raw:
        raw.execute(prefix)
    return execute(sql, params, many, context)


_citus_databases: dict[tuple[Any, ...], bool] = {}


def _is_citus(connection: BaseDatabaseWrapper) -> bool:
    """Whether the connection's database has the citus extension; asked once per database."""
    key = tuple(connection.settings_dict.get(k) for k in ("HOST", "PORT", "NAME"))
    if key not in _citus_databases:
        with connection.connection.cursor() as raw:
            raw.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
            row = raw.fetchone()
            _citus_databases[key] = bool(row and row[0])
    return _citus_databases[key]


def install_hook(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    """connection_created receiver: add the hook once per connection wrapper, and note which
    form of the settings statement the database needs."""
    # Our own marker on Django's connection wrapper, which declares no such attribute.
    connection._brandvx_citus = _is_citus(connection)  # type: ignore[attr-defined]
    if _hook not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _hook)
