"""Sign-in pages of the browsable API, registered as `rest_framework:login` / `logout`, so
DRF's pages link to them ("Log in" in the navigation bar).

- /api-auth/login/: paste a Supabase access token. It is verified by `verify_token` and
  resolved by `tenants.context.resolution` exactly as a bearer token would be (failures count in the
  same per-address limiter). With DEBUG on, a button signs in as the demo owner
  (`manage.py seed_demo`) with a freshly issued development token.
- /api-auth/tenant/: the tenant picker, when the user belongs to several tenants.
- /api-auth/logout/: signing out forgets the sign-in (POST; GET asks for confirmation).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import rotate_token
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from common.http_errors import HttpError
from tenants.auth import failures as auth_failures
from tenants.auth import signin
from tenants.auth.supabase import TokenInvalid, VerifiedToken, issue_development_token, verify_token
from tenants.context import user_context
from tenants.context.resolution import Resolution, TenantForbidden, attached_resolution, resolve_token
from tenants.models import Membership

app_name = "rest_framework"  # DRF's templates link to rest_framework:login / :logout

DEFAULT_NEXT = "/api/v1/me/"
MAX_TOKEN_LENGTH = 16 * 1024


def _next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return DEFAULT_NEXT


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def _current(request: HttpRequest) -> Resolution | None:
    """The request's resolution (tenants.context.middleware attaches it) when it is a live sign-in."""
    resolution = attached_resolution(request)
    if resolution is None or not resolution.via_session or resolution.error is not None or resolution.user is None:
        return None
    return resolution


def _page(request: HttpRequest, template: str, *, status: int = 200, **context: Any) -> HttpResponse:
    context.setdefault("next", _next(request))
    context.setdefault("demo_available", settings.DEBUG)
    context.setdefault("signed_in", _current(request))
    # Rendered here, inside the view's transaction, not lazily after it.
    return render(request, template, context, status=status)


@sensitive_post_parameters("token")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, "tenants/signin/login.html")
    try:
        token = _verify_submitted_token(request)
        resolution = resolve_token(token, requested_tenant=token.tenant_claim)
        if resolution.error is not None:
            raise resolution.error
    except HttpError as exc:
        if isinstance(exc, TokenInvalid) and auth_failures.record_and_check(request):
            exc = auth_failures.TooManyFailures()
        return _page(request, "tenants/signin/login.html", status=exc.status_code, error=exc)
    membership = resolution.membership
    # A verified token always has a user: resolve_token creates it on first sight.
    assert resolution.user is not None
    signin.remember(
        request,
        user_id=resolution.user.id,
        expires_at=signin.session_end(token.claims),
        tenant_id=membership.tenant_id if membership else None,
    )
    # A new CSRF token for the new sign-in: one planted before it (a `csrftoken` cookie set by
    # someone else) stops working.
    rotate_token(request)
    if membership is None and len(resolution.memberships) > 1:
        return redirect(_with_next("rest_framework:tenant", _next(request)))
    return redirect(_next(request))


def _verify_submitted_token(request: HttpRequest) -> VerifiedToken:
    if "demo" in request.POST:
        return verify_token(_demo_token())
    raw = request.POST.get("token", "").strip()
    if raw.lower().startswith("bearer "):
        raw = raw[len("bearer ") :].strip()
    if not raw:
        raise TokenInvalid("Paste a Supabase access token.", code="missing_token")
    if len(raw) > MAX_TOKEN_LENGTH:
        raise TokenInvalid("The access token is not a well-formed JWT.", code="malformed_token")
    return verify_token(raw)


class DemoUnavailable(HttpError):
    status_code = 404
    code = "demo_unavailable"
    default_detail = "Demo sign-in is available only with DEBUG on, after `python manage.py seed_demo`."


def _demo_token() -> str:
    """A development token for the demo owner (DEBUG only), as `manage.py issue_token` makes."""
    from tenants.management.commands.seed_demo import DEMO_OWNER_SUB

    if not settings.DEBUG:
        raise DemoUnavailable()
    with user_context(DEMO_OWNER_SUB):
        seeded = Membership.objects.filter(user_id=DEMO_OWNER_SUB, is_active=True).exists()
    if not seeded:
        raise DemoUnavailable()
    return issue_development_token(user_id=DEMO_OWNER_SUB, tenant_id=None, minutes=60, email="owner@demo-salon.test")


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def choose_tenant(request: HttpRequest) -> HttpResponse:
    resolution = _current(request)
    if resolution is None:
        return redirect(_with_next("rest_framework:login", _next(request)))
    if request.method == "POST":
        try:
            chosen = uuid.UUID(request.POST.get("tenant_id", ""))
        except ValueError:
            chosen = None
        if chosen is not None and any(m.tenant_id == chosen for m in resolution.memberships):
            signin.choose_tenant(request, chosen)
            return redirect(_next(request))
        return _page(
            request,
            "tenants/signin/tenant.html",
            status=403,
            resolution=resolution,
            error=TenantForbidden("Choose one of your own tenants."),
        )
    return _page(request, "tenants/signin/tenant.html", resolution=resolution)


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, "tenants/signin/logout.html")
    signin.forget(request)
    request.session.cycle_key()
    rotate_token(request)
    return redirect(_with_next("rest_framework:login", _next(request)) + "&signed_out=1")


urlpatterns = [
    path("login/", sign_in, name="login"),
    path("tenant/", choose_tenant, name="tenant"),
    path("logout/", sign_out, name="logout"),
]
