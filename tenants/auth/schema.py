"""drf-spectacular descriptions of our authentication classes (loaded in TenantsConfig.ready)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

# drf-spectacular's registering __init_subclass__ (plumbing.ClassRegistry) has no annotations,
# so defining a subclass is an "untyped call" under strict mypy.


class SupabaseJWTScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "tenants.auth.authentication.SupabaseJWTAuthentication"
    name = "SupabaseJWT"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Supabase access token. Send `X-Tenant-ID` to choose among several tenants.",
        }


class TenantSessionScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "tenants.auth.authentication.TenantSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": (
                "The browsable API's session, made by signing in at /api-auth/login/ with a Supabase "
                "access token; it ends when that token expires. Unsafe methods need the X-CSRFToken "
                "header. A Django admin session is refused (403 password_session_refused)."
            ),
        }
