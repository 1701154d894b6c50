"""Per-tenant API rate limits: a fair share of the API for every business.

Three limits apply to every request of a tenant endpoint, counted in Redis with the `limits`
library's sliding-window-counter strategy (two counters per limit, weighted; no per-request
list to trim, so the cost stays flat at any rate):

- the tenant's sustained rate, `TENANT_API_RATE` (default 600 requests per 60 seconds);
- the tenant's burst, `TENANT_API_BURST` (default 60 per second);
- each user's share within the tenant, `TENANT_USER_API_RATE` (default 300 per 60 seconds),
  so one member's script cannot use up the whole tenant's rate for the others.

Rates use the `limits` notation ("600/minute", "600 per 60 seconds", "60/second") or the
short form "600/60s" ("m" and "h" work too).

One Redis round trip per request: the acquire and the read of all three limits go in one
pipeline of the library's own Lua scripts (the strategy's API would take a round trip per
call, six in all). A request one limit refuses still counts towards the limits that admitted
it: a client that ignores 429s keeps itself limited, and nothing is decided twice.

Every answer of a tenant endpoint carries the IETF httpapi draft's `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset` (seconds) for the limit closest to running out,
and `RateLimit-Policy` listing all three; a refusal is 429 `rate_limited` with `Retry-After`.
When Redis cannot be reached the API stays up: the request is admitted, without headers, and
the failure logged (the broker check in /healthz reports the outage).

Where the count happens: early, in TenantContextMiddleware.process_view (after the URL is
resolved, before the view's transaction is opened), for a bearer request to a rate-limited
endpoint whose verified user this process has recently seen admitted as an active member of
the tenant it names (`remember_member`, up to MEMBER_MEMORY_SECONDS). A refusal there is the
429 and nothing else: no membership lookup, no transaction, no DRF dispatch; one JWT check
(cached) and one Redis round trip. So a tenant's flood over its limit costs the server about
what a 404 does, and leaves the workers to the other tenants. Anything else (the first
request of a member, a session, a token or tenant the process has not seen verified) is
counted after the tenant is resolved, by the DRF throttle, exactly once either way. The
memory only decides who may be refused early; nothing is ever admitted on it (an admitted
request is resolved and its membership checked as always), and an outsider naming a tenant
is never counted against it: only requests of verified members are.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import redis
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from rest_framework import status
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from common.http_errors import HttpError

logger = logging.getLogger(__name__)

_SHORT_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([smh])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}


def parse_rate(text: str) -> RateLimitItem:
    """A rate in the `limits` notation, or the short "600/60s" form."""
    short = _SHORT_RATE.match(text)
    if short:
        amount, multiples, unit = short.groups()
        text = f"{amount}/{multiples} {_UNITS[unit]}"
    return parse(text)


class RateLimited(HttpError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "rate_limited"
    default_detail = "Too many requests for this tenant; slow down and retry after the time given in Retry-After."

    def __init__(self, *, wait: int, limit: str) -> None:
        super().__init__()
        self.wait = wait
        self.limit = limit


@dataclass(frozen=True, slots=True)
class LimitState:
    """One limit after this request: its policy, what is left, seconds until a slot frees."""

    name: str
    item: RateLimitItem
    admitted: bool
    remaining: int
    reset: int

    @property
    def policy(self) -> str:
        return f"{self.item.amount};w={self.item.get_expiry()}"


@dataclass(frozen=True, slots=True)
class Decision:
    states: tuple[LimitState, ...]

    @property
    def admitted(self) -> bool:
        return all(state.admitted for state in self.states)

    def headers(self) -> dict[str, str]:
        tightest = min(self.states, key=lambda s: (s.admitted, s.remaining, -s.reset))
        return {
            "RateLimit-Limit": str(tightest.item.amount),
            "RateLimit-Remaining": str(tightest.remaining),
            "RateLimit-Reset": str(tightest.reset),
            "RateLimit-Policy": ", ".join(state.policy for state in self.states),
        }

    def retry_after(self) -> int:
        return max([state.reset for state in self.states if not state.admitted] or [1])

    def refused_by(self) -> str:
        return ", ".join(state.name for state in self.states if not state.admitted)


_storage: RedisStorage | None = None
_storage_lock = threading.Lock()


def storage() -> RedisStorage:
    global _storage
    with _storage_lock:
        if _storage is None:
            # Short timeouts: a slow Redis must not hold a request long before it is admitted.
            _storage = RedisStorage(str(settings.REDIS_URL), socket_timeout=0.5, socket_connect_timeout=0.5)
        return _storage


def _limits() -> list[tuple[str, RateLimitItem]]:
    return [
        ("tenant", parse_rate(settings.TENANT_API_RATE)),
        ("tenant_burst", parse_rate(settings.TENANT_API_BURST)),
        ("user", parse_rate(settings.TENANT_USER_API_RATE)),
    ]


def _window_state(name: str, item: RateLimitItem, admitted: bool, window: Any) -> LimitState:
    # The sliding window counter's arithmetic, as limits.strategies.SlidingWindowCounterRateLimiter
    # .get_window_stats does it, on the values its sliding_window script returned.
    previous_count = int(window[0] or 0)
    previous_ttl = max(0.0, float(window[1] or 0)) / 1000
    current_count = int(window[2] or 0)
    current_ttl = max(0.0, float(window[3] or 0)) / 1000
    expiry = item.get_expiry()
    weighted = previous_count * previous_ttl / expiry + current_count
    remaining = max(0, item.amount - math.floor(weighted))
    reset_in = 0.0
    if previous_count or current_count:
        candidates = []
        if previous_count:
            candidates.append(previous_ttl % (expiry / previous_count))
        if current_count:
            candidates.append(current_ttl % expiry)
        reset_in = min(candidates)
    return LimitState(name=name, item=item, admitted=admitted, remaining=remaining, reset=max(1, math.ceil(reset_in)))


def hit(*, tenant_id: str, user_id: str | None) -> Decision | None:
    """Count one request of `user_id` in `tenant_id` against every limit, in one round trip.

    None when Redis is unreachable (the request is admitted; see the module docstring)."""
    store = storage()
    client = cast(redis.Redis, store.get_connection())
    acquire, read = store.lua_acquire_sliding_window, store.lua_sliding_window
    items = _limits()
    keyed = []
    for name, item in items:
        identifiers = ("tenant", tenant_id) if name != "user" else ("user", tenant_id, user_id or "-")
        key = item.key_for(*identifiers)
        keys = [store.prefixed_key(store._previous_window_key(key)), store.prefixed_key(store._current_window_key(key))]
        keyed.append((name, item, keys))
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        for _name, item, keys in keyed:
            # EVALSHA straight on the pipeline (not Script.__call__, whose pipeline support asks
            # SCRIPT EXISTS first: a second round trip on every request).
            pipe.evalsha(acquire.sha, 2, *keys, item.amount, item.get_expiry(), 1)
            pipe.evalsha(read.sha, 2, *keys, item.get_expiry())
        try:
            replies = pipe.execute()
            break
        except redis.exceptions.NoScriptError:
            if attempt:
                raise
            for script in (acquire, read):  # a restarted or flushed Redis: load them, once
                script.sha = client.script_load(script.script)
        except redis.exceptions.RedisError:
            logger.warning("rate limiter unavailable; request admitted without a limit", exc_info=True)
            return None
    states = tuple(
        _window_state(name, item, bool(replies[2 * index]), replies[2 * index + 1])
        for index, (name, item, _keys) in enumerate(keyed)
    )
    return Decision(states=states)


# --- who may be refused early (see the module docstring) -------------------------------------

MEMBER_MEMORY_SECONDS = 60.0
_MEMBER_MEMORY_SIZE = 10_000
_members: dict[tuple[str, str], float] = {}  # (tenant id, user id) -> when the memory ends
_members_lock = threading.Lock()


def remember_member(*, tenant_id: str, user_id: str) -> None:
    """`user_id` was just resolved as an active member of `tenant_id` (membership checked in
    the database): for MEMBER_MEMORY_SECONDS its requests naming that tenant may be counted,
    and refused, before the next lookup."""
    with _members_lock:
        if len(_members) >= _MEMBER_MEMORY_SIZE:
            now = time.monotonic()
            for key in [key for key, until in _members.items() if until <= now] or list(_members):
                del _members[key]
        _members[(tenant_id, user_id)] = time.monotonic() + MEMBER_MEMORY_SECONDS


def _remembered_member(tenant_id: str, user_id: str) -> bool:
    until = _members.get((tenant_id, user_id))
    return until is not None and until > time.monotonic()


def forget_members() -> None:
    with _members_lock:
        _members.clear()


def _bearer_identity(request: HttpRequest) -> tuple[str, str] | None:
    """(tenant id, user id) of a bearer request whose token verifies and which names its
    tenant, as the resolution will read them; None otherwise. A bad token is left to the
    resolution (which answers it, and counts it as a failed authentication)."""
    from tenants.auth.supabase import TokenInvalid, verify_token
    from tenants.context.resolution import bearer_token  # the resolution's own reading of the header

    raw = bearer_token(request)
    if not raw:
        return None
    try:
        token = verify_token(raw)  # remembered per token: no second signature check later
    except TokenInvalid:
        return None
    requested = request.META.get("HTTP_X_TENANT_ID") or token.tenant_claim
    try:
        tenant_id = uuid.UUID(requested) if requested else None
    except ValueError:
        return None
    if tenant_id is None:
        return None
    return str(tenant_id), str(token.user_id)


def _limited_view(view_func: Any) -> bool:
    """The view counts its requests against the tenant limits (a TenantScopedMixin view)."""
    view_class = getattr(view_func, "cls", None)
    return view_class is not None and TenantRateThrottle in getattr(view_class, "throttle_classes", ())


def early_refusal(request: HttpRequest, view_func: Any) -> JsonResponse | None:
    """The 429 for a request over its tenant's limits, decided before any database work, or
    None: the request goes on (counted here if it could be, else later by the throttle).

    Only bearer requests to a limited view, naming their tenant (X-Tenant-ID or the token's
    claim), whose verified user is a remembered member of that tenant."""
    if not settings.TENANT_RATE_LIMITS_ENABLED or not _limited_view(view_func):
        return None
    identity = _bearer_identity(request)
    if identity is None:
        return None
    tenant_id, user_id = identity
    if not _remembered_member(tenant_id, user_id):
        return None
    decision = hit(tenant_id=tenant_id, user_id=user_id)
    request.rate_limit = decision  # type: ignore[attr-defined]  # read by response_headers
    request.rate_limit_counted = (tenant_id, user_id)  # type: ignore[attr-defined]  # the throttle's
    if decision is None or decision.admitted:
        return None
    logger.info("rate limited tenant %s user %s (%s), early", tenant_id, user_id, decision.refused_by())
    refusal = RateLimited(wait=decision.retry_after(), limit=decision.refused_by())
    response = JsonResponse({"code": refusal.code, "detail": str(refusal.detail)}, status=refusal.status_code)
    for name, value in response_headers(request).items():
        response[name] = value
    # Counted and logged above, with the tenant: django.request's warning for every 4xx would
    # add a line per refused request of a flood.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class TenantRateThrottle(BaseThrottle):
    """DRF throttle of every tenant endpoint (tenants.views.TenantScopedMixin); runs after the
    tenant is resolved. Refuses with RateLimited (429 `rate_limited`), and leaves the decision
    on the request for the response headers (TenantScopedMixin.finalize_response). A request
    already counted early (early_refusal admitted it) is not counted again."""

    sends_rate_limit_headers: ClassVar[bool] = True  # read by common.schema

    def allow_request(self, request: Request, view: Any) -> bool:
        tenant = getattr(request, "tenant", None)
        if tenant is None or not settings.TENANT_RATE_LIMITS_ENABLED:
            return True
        user_id = getattr(request.user, "pk", None)
        tenant_key, user_key = str(tenant.id), str(user_id) if user_id else None
        if user_key is not None:
            remember_member(tenant_id=tenant_key, user_id=user_key)  # resolved: a member now
        if getattr(request._request, "rate_limit_counted", None) == (tenant_key, user_key):
            return True  # counted and admitted in early_refusal
        decision = hit(tenant_id=tenant_key, user_id=user_key)
        request._request.rate_limit = decision  # type: ignore[attr-defined]  # read by finalize_response
        if decision is None or decision.admitted:
            return True
        logger.info("rate limited tenant %s user %s (%s)", tenant.id, user_id, decision.refused_by())
        raise RateLimited(wait=decision.retry_after(), limit=decision.refused_by())


def response_headers(request: Any) -> dict[str, str]:
    decision: Decision | None = getattr(request, "rate_limit", None)
    if decision is None:
        return {}
    headers = decision.headers()
    if not decision.admitted:
        headers["Retry-After"] = str(decision.retry_after())
    return headers
