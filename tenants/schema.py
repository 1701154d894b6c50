"""drf-spectacular descriptions of our authentication classes (loaded in TenantsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SupabaseJWTScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.SupabaseJWTAuthentication"
    name = "SupabaseJWT"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Supabase access token. Send `X-Tenant-ID` to choose among several tenants.",
        }


class TenantSessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.TenantSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "cookie", "name": "sessionid",
            "description": (
                "The browsable API's session, made by signing in at /api-auth/login/ with a Supabase "
                "access token; it ends when that token expires. Unsafe methods need the X-CSRFToken "
                "header. A Django admin session is refused (403 password_session_refused)."
            ),
        }
