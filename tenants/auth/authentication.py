"""DRF authentication classes: they report what TenantContextMiddleware resolved."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request

if TYPE_CHECKING:
    # Only for typing: DRF imports this module while rest_framework.views is still loading,
    # and tenants.context.resolution (through common.errors) imports rest_framework.views.
    from tenants.context.resolution import Resolution


class SupabaseJWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <Supabase access token>`; verified by the middleware."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        resolution: Resolution | None = getattr(request._request, "tenant_resolution", None)
        if resolution is None or not resolution.via_bearer:
            return None
        if resolution.error is not None:
            raise resolution.error
        return resolution.user, resolution.token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class TenantSessionAuthentication(SessionAuthentication):
    """The browsable API's session: only one made by the sign-in page (`/api-auth/login/`, a
    verified Supabase token), until that token expires. A Django login session (the support
    admin's) is refused with 403 `password_session_refused`, an expired sign-in is 401
    `session_expired`. CSRF is enforced on every unsafe method."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        resolution: Resolution | None = getattr(request._request, "tenant_resolution", None)
        if resolution is None or not resolution.via_session:
            return None
        if resolution.error is not None:
            raise resolution.error
        self.enforce_csrf(request)
        return resolution.user, None
