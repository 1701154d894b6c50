"""Rate limiting of failed token authentications, per client address, in the shared cache.

Slows down token guessing and noisy misconfigured clients. When the cache is unreachable the
limit is skipped (logged): authentication must not depend on Redis being up.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from rest_framework import status

from brandvx.errors import BrandVXError

logger = logging.getLogger(__name__)


class TooManyFailures(BrandVXError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "too_many_auth_failures"
    default_detail = "Too many failed authentications from this address; wait a minute and try again."


def _key(request) -> str:
    return f"auth-failures:{request.META.get('REMOTE_ADDR', 'unknown')}"


def blocked(request) -> bool:
    try:
        return (cache.get(_key(request)) or 0) >= settings.AUTH_FAILURE_LIMIT
    except Exception:
        logger.warning("auth failure limiter: cache unavailable", exc_info=True)
        return False


def record(request) -> None:
    key = _key(request)
    try:
        if not cache.add(key, 1, timeout=settings.AUTH_FAILURE_WINDOW_SECONDS):
            cache.incr(key)
    except Exception:
        logger.warning("auth failure limiter: cache unavailable", exc_info=True)
