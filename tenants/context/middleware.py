"""Attaches the caller's resolution (who, which tenant, which role) to the request, lazily.

Nothing is verified or looked up here: the resolution is computed the first time something
asks for it, which is the DRF authentication of an API view. Views that do not authenticate
with it (the admin, webhooks, the custom CRM push, /healthz) never resolve a bearer token and
never get a tenant context.

The context itself is not activated here either. A tenant endpoint activates it around its
own dispatch and rendering, inside the request's transaction (`tenants.views`,
`tenants.context.request_context`), so it cannot outlive that transaction: a template or a
streamed body produced later runs with no context at all.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from tenants.context.resolution import resolve_request


class TenantContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # Read back with tenants.context.resolution.attached_resolution (HttpRequest declares no such attribute).
        request.tenant_resolution = SimpleLazyObject(lambda: resolve_request(request))  # type: ignore[attr-defined]
        return self.get_response(request)
