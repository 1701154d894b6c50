"""Attaches the caller's resolution (who, which tenant, which role) to the request, lazily.

Nothing is verified or looked up here: the resolution is computed the first time something
asks for it, which is the DRF authentication of an API view. Views that do not authenticate
with it (the admin, webhooks, the custom CRM push, /healthz) never resolve a bearer token and
never get a tenant context.

Rate limits: a bearer request over its tenant's limits is refused here, in process_view (the
URL resolved, the view's transaction not yet opened), when this process already knows the
caller as a member of the tenant it names (`tenants.auth.ratelimit.early_refusal`): the 429 costs
no database work. Every other request is counted by the view's throttle after resolution.

The context itself is not activated here either. A tenant endpoint activates it around its
own dispatch and rendering, inside the request's transaction (`tenants.views`,
`tenants.context.request_context`), so it cannot outlive that transaction: a template or a
streamed body produced later runs with no context at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from tenants.auth.ratelimit import early_refusal
from tenants.context.resolution import resolve_request


class TenantContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # Read back with tenants.context.resolution.attached_resolution (HttpRequest declares no such attribute).
        request.tenant_resolution = SimpleLazyObject(lambda: resolve_request(request))  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        return early_refusal(request, view_func)
