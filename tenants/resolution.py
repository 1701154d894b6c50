"""Who is calling, and as which tenant: the rules of tenant selection.

1. `X-Tenant-ID` header, else the token's `app_metadata.tenant_id`, else the caller's only
   active membership.
2. A malformed tenant id is 400; a tenant without an active membership is 403.
3. Several memberships and no selection: no tenant; tenant endpoints answer 400 with the
   choices (GET /api/v1/me/ still answers, so a client can offer a picker).
Membership rows come only from the Membership table, never from user_metadata.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db import transaction
from rest_framework import status

from brandvx.errors import BrandVXError
from tenants import auth_failures
from tenants.context import TenantContext, user_context
from tenants.models import Membership, User
from tenants.supabase import TokenInvalid, VerifiedToken, verify_token


class TenantSelectionInvalid(BrandVXError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid_tenant_id"
    default_detail = "The tenant id is not a valid UUID."


class TenantForbidden(BrandVXError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "not_a_member"
    default_detail = "You are not an active member of this tenant."


class TenantRequired(BrandVXError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "tenant_required"
    default_detail = "Choose a tenant with the X-Tenant-ID header."


class NoTenant(BrandVXError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "no_membership"
    default_detail = "Your account is not a member of any active tenant."


@dataclass
class Resolution:
    """What the middleware found out about the caller. Errors are raised later, by DRF."""

    via_bearer: bool = False
    user: User | None = None
    token: VerifiedToken | None = None
    memberships: list[Membership] = field(default_factory=list)
    membership: Membership | None = None
    error: BrandVXError | None = None  # authentication or explicit-selection error
    tenant_error: BrandVXError | None = None  # raised only by endpoints that need a tenant

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


def _bearer(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def resolve_request(request) -> Resolution:
    raw = _bearer(request)
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
        _load_user_and_memberships(resolution, token=resolution.token)
        requested = request.META.get("HTTP_X_TENANT_ID") or resolution.token.tenant_claim
    else:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return Resolution()
        resolution = Resolution(user=user)
        _load_user_and_memberships(resolution, token=None)
        requested = request.META.get("HTTP_X_TENANT_ID")
    _select_tenant(resolution, requested)
    return resolution


def _load_user_and_memberships(resolution: Resolution, *, token: VerifiedToken | None) -> None:
    """One short transaction with the user's context. A member's user row comes with the
    memberships (one statement); only a user without memberships is looked up on its own."""
    user_id = token.user_id if token else resolution.user.id
    with user_context(user_id):
        resolution.memberships = list(
            Membership.objects.filter(user_id=user_id, is_active=True, tenant__is_active=True)
            .select_related("tenant", *(["user"] if token is not None else []))
            .order_by("tenant__name")
        )
        if token is not None:
            if resolution.memberships:
                resolution.user = resolution.memberships[0].user
            else:
                resolution.user = User.objects.filter(id=user_id).first() or _create_user(token)


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
            extra={"choices": [{"id": str(m.tenant_id), "name": m.tenant.name, "role": m.role} for m in resolution.memberships]}
        )
