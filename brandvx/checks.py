"""Refuse to run unsafe: with DEBUG off, no secret may be missing or a development default.

Registered as Django system checks (Error level), so `manage.py check [--deploy]` lists them,
and enforced when the project starts (brandvx.apps): gunicorn, Celery and every management
command stop with the same messages instead of serving on public secrets.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from brandvx.settings.env import DEVELOPMENT_SECRETS

# (environment variable, setting, check id)
SECRETS = (
    ("DJANGO_SECRET_KEY", "SECRET_KEY", "brandvx.E001"),
    ("SUPABASE_JWT_SECRET", "SUPABASE_JWT_SECRET", "brandvx.E002"),
    ("FIELD_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY", "brandvx.E003"),
    ("DATABASE_APP_PASSWORD", "DATABASE_APP_PASSWORD", "brandvx.E004"),
    ("PUBLIC_BASE_URL", "PUBLIC_BASE_URL", "brandvx.E005"),  # no secret, but links and signatures need it
)


def _is_development_value(variable: str, value: str | None) -> bool:
    if not value:
        return True
    default = DEVELOPMENT_SECRETS.get(variable)
    if variable == "FIELD_ENCRYPTION_KEY":
        # The first key encrypts: it must be a real one. (The development key may stay listed
        # after it for decryption while stored values are re-encrypted.)
        return value.split(",")[0].strip() == default
    return value == default


@checks.register(checks.Tags.security)
def production_secrets(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []
    allowed = set(getattr(settings, "DEVELOPMENT_SECRETS_ALLOWED", ()))
    errors: list[checks.CheckMessage] = []
    for variable, setting, check_id in SECRETS:
        value = getattr(settings, setting, None)
        if variable == "SUPABASE_JWT_SECRET" and value is None and settings.SUPABASE_JWKS_URL:
            continue  # asymmetric keys only: HS256 is refused altogether (tenants.supabase)
        if variable in allowed or not _is_development_value(variable, value):
            continue
        errors.append(
            checks.Error(
                f"{variable} is missing or is the public development value, and DEBUG is off.",
                hint=f"Set {variable} in the environment (see the README's configuration section), "
                "or set DJANGO_DEBUG=1 on a development machine.",
                id=check_id,
            )
        )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def token_issuer_checked(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if settings.SUPABASE_JWT_ISSUER:
        return []
    return [
        checks.Warning(
            "Access tokens' issuer (iss) is not checked.",
            hint="Set SUPABASE_URL (the issuer is <SUPABASE_URL>/auth/v1) or SUPABASE_JWT_ISSUER.",
            id="brandvx.W001",
        )
    ]


def refuse_unsafe_start() -> None:
    """Raise ImproperlyConfigured listing every failed production-secret check."""
    from django.core.exceptions import ImproperlyConfigured

    errors = production_secrets()
    if errors:
        lines = "\n".join(f"  {error.id}: {error.msg} {error.hint}" for error in errors)
        raise ImproperlyConfigured(f"Refusing to start with DEBUG off and unsafe settings:\n{lines}")
