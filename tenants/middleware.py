"""Resolves who is calling and for which tenant, and holds that context for the request.

Runs before the view. The context it sets is only Python-side; the database hook turns it
into settings inside the view's transaction (ATOMIC_REQUESTS). Errors found here (bad token,
foreign tenant) are not answered here: they are kept on the request and raised by the DRF
authentication class, so every API error has the same JSON shape.
"""

from __future__ import annotations

from tenants.context import activate
from tenants.resolution import resolve_request


class TenantContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        resolution = resolve_request(request)
        request.tenant_resolution = resolution
        # activate() resets the context variable in a finally block: nothing outlives the request.
        with activate(resolution.context):
            return self.get_response(request)
