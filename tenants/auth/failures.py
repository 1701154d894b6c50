"""Rate limiting of failed token authentications, per client address, in the shared cache.

The address is `tenants.auth.client_address.client_address`: behind trusted proxies, the
caller's, not the proxy's (one address for everyone would lock every salon out at once).

Past the limit, a failed authentication is answered 429 (with Retry-After) instead of 401,
which slows down token guessing and tells a misconfigured client to stop. When the cache is
unreachable the limit is skipped (logged): authentication must not depend on Redis being up.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework import status

from common.http_errors import HttpError
from tenants.auth.client_address import client_address

logger = logging.getLogger(__name__)


class TooManyFailures(HttpError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "too_many_auth_failures"
    default_detail = "Too many failed authentications from this address; wait a minute and try again."


def _key(request: HttpRequest) -> str:
    return f"auth-failures:{client_address(request)}"


def record_and_check(request: HttpRequest) -> bool:
    """Count one failed authentication from the caller's address; True once the address is
    over the limit for the current window (the answer is then 429 instead of 401)."""
    key = _key(request)
    try:
        if cache.add(key, 1, timeout=settings.AUTH_FAILURE_WINDOW_SECONDS):
            count = 1
        else:
            count = cache.incr(key)
    except Exception:
        logger.warning("auth failure limiter: cache unavailable", exc_info=True)
        return False
    return count > settings.AUTH_FAILURE_LIMIT
