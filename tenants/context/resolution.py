"""Who is calling, and as which tenant: the rules of tenant selection.

1. `X-Tenant-ID` header, else the token's `app_metadata.tenant_id`, else the caller's only
   active membership.
2. A malformed tenant id is 400; a tenant without an active membership is 403.
3. Several memberships and no selection: no tenant; tenant endpoints answer 400 with the
   choices (GET /api/v1/me/ still answers, so a client can offer a picker).
4. Sessions: only a session made by the API sign-in page (`tenants.auth.signin`, a verified
   Supabase token) is a caller, until that token's expiry; its tenant is the one chosen on the
   sign-in page unless `X-Tenant-ID` says otherwise. A Django login session (the support
   admin's password session) is refused: support works in the admin, never through the API.
Membership rows come only from the Membership table, never from user_metadata.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import auth
from django.db import connections, transaction
from django.db.models import Field, Model
from django.http import HttpRequest
from rest_framework import status

from common.http_errors import HttpError
from tenants.auth import failures as auth_failures
from tenants.auth import signin
from tenants.auth.supabase import TokenInvalid, VerifiedToken, verify_token
from tenants.context import TenantContext, membership_lookup_context
from tenants.models import Membership, Tenant, User


class TenantSelectionInvalid(HttpError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid_tenant_id"
    default_detail = "The tenant id is not a valid UUID."


class TenantForbidden(HttpError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "not_a_member"
    default_detail = "You are not an active member of this tenant."


class TenantRequired(HttpError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "tenant_required"
    default_detail = "Choose a tenant with the X-Tenant-ID header."


class NoTenant(HttpError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "no_membership"
    default_detail = "Your account is not a member of any active tenant."


class PasswordSessionRefused(HttpError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "password_session_refused"
    default_detail = (
        "A Django admin session does not reach tenant data through the API. Sign in at "
        "/api-auth/login/ with a Supabase access token, or send Authorization: Bearer."
    )


class SessionExpired(HttpError):
    status_code = status.HTTP_401_UNAUTHORIZED
    code = "session_expired"
    default_detail = "Your sign-in ended when its access token expired; sign in again at /api-auth/login/."


@dataclass
class Resolution:
    """What the middleware found out about the caller. Errors are raised later, by DRF."""

    via_bearer: bool = False
    via_session: bool = False  # a session made by the API sign-in page, or a refused one
    user: User | None = None
    token: VerifiedToken | None = None
    memberships: list[Membership] = field(default_factory=list)
    membership: Membership | None = None
    error: HttpError | None = None  # authentication or explicit-selection error
    tenant_error: HttpError | None = None  # raised only by endpoints that need a tenant

    @property
    def context(self) -> TenantContext | None:
        if self.user is None or self.error is not None:
            return None
        if self.membership is None:
            return TenantContext(tenant_id=None, user_id=self.user.id, role="")
        return TenantContext(tenant_id=self.membership.tenant_id, user_id=self.user.id, role=self.membership.role)

    def require_membership(self) -> Membership:
        if self.error is not None:
            raise self.error
        if self.membership is None:
            raise self.tenant_error or NoTenant()
        return self.membership


def attached_resolution(request: HttpRequest) -> Resolution | None:
    """The resolution TenantContextMiddleware attached to `request` (a lazy stand-in for a
    Resolution), or None where the middleware did not run. Django's HttpRequest declares no
    such attribute, hence getattr."""
    resolution: Resolution | None = getattr(request, "tenant_resolution", None)
    return resolution


def bearer_token(request: HttpRequest) -> str | None:
    header: str = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def resolve_request(request: HttpRequest) -> Resolution:
    raw = bearer_token(request)
    if raw is not None:
        resolution = Resolution(via_bearer=True)
        try:
            if not raw:
                raise TokenInvalid("The Authorization header has no token.", code="malformed_token")
            resolution.token = verify_token(raw)
        except TokenInvalid as exc:
            # Only failures touch the limiter (and the cache): a valid token costs no lookup,
            # and a member behind the same address as a noisy client is never locked out.
            resolution.error = auth_failures.TooManyFailures() if auth_failures.record_and_check(request) else exc
            return resolution
        requested = request.META.get("HTTP_X_TENANT_ID") or resolution.token.tenant_claim
        _load_user_and_memberships(
            resolution, user_id=resolution.token.user_id, token=resolution.token, requested=requested
        )
    else:
        session = getattr(request, "session", None)
        if session is None:
            return Resolution()
        signed_in = signin.signed_in(request)
        if signed_in is None:
            # Django's own login (django.contrib.auth) is the admin's password session: it is
            # refused, without loading its user. Checked on the session key alone.
            if auth.SESSION_KEY in session:
                return Resolution(via_session=True, error=PasswordSessionRefused())
            return Resolution()
        resolution = Resolution(via_session=True)
        if signed_in.expired:
            signin.forget(request)
            resolution.error = SessionExpired()
            return resolution
        requested = request.META.get("HTTP_X_TENANT_ID") or (str(signed_in.tenant_id) if signed_in.tenant_id else None)
        _load_user_and_memberships(resolution, user_id=signed_in.user_id, token=None, requested=requested)
        if resolution.user is None:  # the user was deleted since signing in
            signin.forget(request)
            return Resolution()
    _select_tenant(resolution, requested)
    return resolution


def resolve_token(token: VerifiedToken, *, requested_tenant: str | None) -> Resolution:
    """The caller a verified token stands for, with the tenant `requested_tenant` selects
    (same rules as a request): used by the sign-in page, exactly as a bearer request would."""
    resolution = Resolution(token=token)
    _load_user_and_memberships(resolution, user_id=token.user_id, token=token, requested=requested_tenant)
    _select_tenant(resolution, requested_tenant)
    return resolution


def _load_user_and_memberships(
    resolution: Resolution, *, user_id: uuid.UUID, token: VerifiedToken | None, requested: str | None
) -> None:
    """The user's memberships, in the request's transaction (or a short one of its own). A
    member's user row comes with the memberships (one statement); only a user without
    memberships is looked up on its own, and created only for a verified token (a session's
    user was created at sign-in). The tenant the request names rides along to the database
    (membership_lookup_context): once verified, the view needs no second context statement."""
    with membership_lookup_context(user_id, requested_tenant_id=_uuid_or_none(requested)):
        resolution.memberships = active_memberships(user_id)
        if resolution.memberships:
            resolution.user = resolution.memberships[0].user
        else:
            resolution.user = User.objects.filter(id=user_id).first()
            if resolution.user is None and token is not None:
                resolution.user = _create_user(token)


# --- the membership lookup: on every request, so its statement is written once ----------


_Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class _Part:
    """One model's columns in the lookup's rows: where they start, and how to build it."""

    model: type[Model]
    names: list[str]  # attnames, in the order of the model's concrete fields
    start: int
    converters: list[tuple[int, list[_Converter], Any]]  # (column, from_db_value functions, its Col)

    @property
    def stop(self) -> int:
        return self.start + len(self.names)

    def build(self, db: str, row: tuple[Any, ...], connection: Any) -> Model:
        values = list(row[self.start : self.stop])
        for index, functions, col in self.converters:
            for function in functions:
                values[index] = function(values[index], col, connection)
        return self.model.from_db(db, self.names, values)


@functools.cache
def _memberships_statement() -> tuple[str, tuple[_Part, _Part, _Part]]:
    """SELECT membership, tenant and user columns of a user's active memberships in active
    tenants, by tenant name: what `Membership.objects.filter(user_id=..., is_active=True,
    tenant__is_active=True).select_related("tenant", "user").order_by("tenant__name")` sends,
    written from the models' metadata once per process instead of compiled by the ORM on
    every request (that compilation cost more than the query itself: about 0.4 ms).
    tests/test_resolution_lookup.py holds it equal to that queryset."""
    connection = connections["default"]
    quote = connection.ops.quote_name
    parts = []
    columns: list[str] = []
    for alias, model in (("m", Membership), ("t", Tenant), ("u", User)):
        fields: list[Field[Any, Any]] = list(model._meta.concrete_fields)
        converters = []
        for index, model_field in enumerate(fields):
            col = model_field.get_col(alias)
            functions = col.get_db_converters(connection)
            if functions:
                converters.append((index, functions, col))
        parts.append(_Part(model, [f.attname for f in fields], len(columns), converters))
        columns.extend(f"{alias}.{quote(str(f.column))}" for f in fields)

    def column(model: type[Model], name: str) -> str:
        model_field = model._meta.get_field(name)
        assert isinstance(model_field, Field)  # a concrete field, not a reverse relation
        return quote(str(model_field.column))

    table = {model: quote(model._meta.db_table) for model in (Membership, Tenant, User)}
    sql = (
        f"SELECT {', '.join(columns)} FROM {table[Membership]} m"
        f" INNER JOIN {table[Tenant]} t ON (m.{column(Membership, 'tenant')} = t.{column(Tenant, 'id')})"
        f" INNER JOIN {table[User]} u ON (m.{column(Membership, 'user')} = u.{column(User, 'id')})"
        f" WHERE m.{column(Membership, 'user')} = %s AND m.{column(Membership, 'is_active')}"
        f" AND t.{column(Tenant, 'is_active')} ORDER BY t.{column(Tenant, 'name')} ASC"
    )
    return sql, (parts[0], parts[1], parts[2])


def active_memberships(user_id: uuid.UUID) -> list[Membership]:
    """The user's active memberships of active tenants, by tenant name, each with its tenant
    and user loaded (as select_related would). Run inside the user's context."""
    connection = connections["default"]
    sql, (membership_part, tenant_part, user_part) = _memberships_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id])
        rows = cursor.fetchall()
    memberships: list[Membership] = []
    user: Model | None = None
    for row in rows:
        membership = membership_part.build("default", row, connection)
        Membership.tenant.field.set_cached_value(membership, tenant_part.build("default", row, connection))
        user = user or user_part.build("default", row, connection)  # one user: the same object
        Membership.user.field.set_cached_value(membership, user)
        assert isinstance(membership, Membership)
        memberships.append(membership)
    return memberships


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    # A malformed id is reported by _select_tenant (400); here it only means "no tenant yet".
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _create_user(token: VerifiedToken) -> User:
    # First valid token for this `sub`: link a Django user to it. A savepoint, because a
    # concurrent first request may create the same user.
    from django.db import IntegrityError

    try:
        with transaction.atomic():
            return User.objects.create(id=token.user_id, username=str(token.user_id), email=token.email)
    except IntegrityError:
        return User.objects.get(id=token.user_id)


def _select_tenant(resolution: Resolution, requested: str | None) -> None:
    if requested:
        try:
            tenant_id = uuid.UUID(requested)
        except ValueError:
            resolution.error = TenantSelectionInvalid()
            return
        for membership in resolution.memberships:
            if membership.tenant_id == tenant_id:
                resolution.membership = membership
                return
        resolution.error = TenantForbidden()
        return
    if len(resolution.memberships) == 1:
        resolution.membership = resolution.memberships[0]
    elif resolution.memberships:
        resolution.tenant_error = TenantRequired(
            extra={
                "choices": [
                    {"id": str(m.tenant_id), "name": m.tenant.name, "role": m.role} for m in resolution.memberships
                ]
            }
        )
