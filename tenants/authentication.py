"""DRF authentication classes: they report what TenantContextMiddleware resolved."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, SessionAuthentication


class SupabaseJWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <Supabase access token>`; verified by the middleware."""

    def authenticate(self, request):
        resolution = getattr(request._request, "tenant_resolution", None)
        if resolution is None or not resolution.via_bearer:
            return None
        if resolution.error is not None:
            raise resolution.error
        return resolution.user, resolution.token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class TenantSessionAuthentication(SessionAuthentication):
    """Django sessions, for the browsable API. Tenant selection errors apply here too."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        resolution = getattr(request._request, "tenant_resolution", None)
        if resolution is not None and resolution.error is not None:
            raise resolution.error
        return result
