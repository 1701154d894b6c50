"""The caller's network address, for rate limits and the support audit.

Without a reverse proxy, `REMOTE_ADDR` is the caller. Behind one (a load balancer, a CDN),
`REMOTE_ADDR` is the proxy, the same for everyone, and the caller is in `X-Forwarded-For`,
which the caller can also write. So the header is believed only as far as it was written by
proxies we run: with `DJANGO_TRUSTED_PROXY_COUNT=N`, the address N entries from the right
end of `X-Forwarded-For` (the one our outermost proxy saw). Anything left of it is the
caller's own claim and is ignored. N = 0 (the default): the header is ignored entirely.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    chain = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(chain) < hops:
        # Fewer entries than proxies we run: the request did not come through them all.
        return remote
    candidate = chain[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
