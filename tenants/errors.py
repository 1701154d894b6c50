"""The tenants app's errors; `common.http_errors` maps them to HTTP."""

from typing import ClassVar

from common.errors import DomainError


class TenantContextError(DomainError):
    """A programming error around the tenant context (a 500: never shown to clients in detail)."""

    code: ClassVar[str] = "tenant_context_error"
    default_detail: ClassVar[str] = "Internal tenant context error."
