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

from django.utils.functional import SimpleLazyObject

from tenants.resolution import resolve_request


class TenantContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant_resolution = SimpleLazyObject(lambda: resolve_request(request))
        return self.get_response(request)
