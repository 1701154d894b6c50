"""The tenants app's errors; `brandvx.errors` maps them to HTTP."""

from brandvx.errors import BrandVXError


class TenantContextError(BrandVXError):
    """A programming error around the tenant context (never shown to clients in detail)."""

    status_code = 500
    code = "tenant_context_error"
    default_detail = "Internal tenant context error."
