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
"""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import redis
from django.conf import settings
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


class TenantRateThrottle(BaseThrottle):
    """DRF throttle of every tenant endpoint (tenants.views.TenantScopedMixin); runs after the
    tenant is resolved. Refuses with RateLimited (429 `rate_limited`), and leaves the decision
    on the request for the response headers (TenantScopedMixin.finalize_response)."""

    sends_rate_limit_headers: ClassVar[bool] = True  # read by common.schema

    def allow_request(self, request: Request, view: Any) -> bool:
        tenant = getattr(request, "tenant", None)
        if tenant is None or not settings.TENANT_RATE_LIMITS_ENABLED:
            return True
        user_id = getattr(request.user, "pk", None)
        decision = hit(tenant_id=str(tenant.id), user_id=str(user_id) if user_id else None)
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
