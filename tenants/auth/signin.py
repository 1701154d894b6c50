"""The browsable API's sign-in, kept in the session: who signed in, until when, which tenant.

Salon users have no Django password; they sign in with Supabase. The sign-in page
(`tenants.auth.signin_views`) verifies a pasted access token exactly like a bearer token and keeps
here only the user id, when the sign-in ends and the chosen tenant, never the token itself. It
ends at the token's expiry or at its maximum age (`iat` + SUPABASE_JWT_MAX_AGE_SECONDS),
whichever comes first: the session authenticates API calls until then and not a second longer
(`tenants.context.resolution`). The session cookie outlives it by EXPIRED_NOTICE_SECONDS, so that the
first page asked for after the end can say that the sign-in expired (401 `session_expired`,
with a link to the sign-in) instead of "no credentials".

This is the only session the API accepts: a Django login (the support admin's password
session) carries no such entry and is refused by the API.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest

SESSION_KEY = "brandvx_api_signin"
# How long after the token's expiry the browser keeps the cookie: only to tell the person that
# the sign-in expired. The session authenticates nothing after the expiry.
EXPIRED_NOTICE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class SignedIn:
    user_id: uuid.UUID
    expires_at: int  # session_end(): the token's `exp` or its maximum age, the earlier
    tenant_id: uuid.UUID | None

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    @property
    def expires_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, tz=UTC)


def signed_in(request: HttpRequest) -> SignedIn | None:
    """The sign-in this request's session holds, expired or not (callers check); None if none."""
    session = getattr(request, "session", None)
    data = session.get(SESSION_KEY) if session is not None else None
    if not isinstance(data, dict):
        return None
    try:
        tenant_id = data.get("tenant_id")
        return SignedIn(
            user_id=uuid.UUID(data["user_id"]),
            expires_at=int(data["exp"]),
            tenant_id=uuid.UUID(tenant_id) if tenant_id else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def session_end(claims: dict[str, Any]) -> int:
    """When a sign-in made with a verified token's `claims` ends: the earliest of the token's
    `exp` and `iat` + SUPABASE_JWT_MAX_AGE_SECONDS, the moment the same token stops working as
    a bearer token (`token_too_old`). A session never outlives its token's limits."""
    return int(min(claims["exp"], claims["iat"] + settings.SUPABASE_JWT_MAX_AGE_SECONDS))


def remember(request: HttpRequest, *, user_id: uuid.UUID, expires_at: int, tenant_id: uuid.UUID | None) -> None:
    """Start a sign-in: a new session key (no fixation), and a cookie that outlives the token
    only long enough to say it expired."""
    request.session.cycle_key()
    _store(request, SignedIn(user_id=user_id, expires_at=expires_at, tenant_id=tenant_id))
    request.session.set_expiry(datetime.fromtimestamp(expires_at + EXPIRED_NOTICE_SECONDS, tz=UTC))


def choose_tenant(request: HttpRequest, tenant_id: uuid.UUID) -> None:
    current = signed_in(request)
    if current is None:
        raise ValueError("not signed in")
    _store(request, SignedIn(user_id=current.user_id, expires_at=current.expires_at, tenant_id=tenant_id))


def forget(request: HttpRequest) -> None:
    """End the sign-in (sign-out, expiry). Anything else in the session stays."""
    if request.session.pop(SESSION_KEY, None) is not None:
        request.session.set_expiry(None)


def _store(request: HttpRequest, value: SignedIn) -> None:
    request.session[SESSION_KEY] = {
        "user_id": str(value.user_id),
        "exp": value.expires_at,
        "tenant_id": str(value.tenant_id) if value.tenant_id else None,
    }
