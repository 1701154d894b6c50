"""Refuse to run unsafe: with DEBUG off, no secret may be missing, weak, or a value that is in
the repository (brandvx.settings.public_values: development, test and benchmark values).

Registered as Django system checks (Error level), so `manage.py check [--deploy]` lists them,
and enforced when the project starts (brandvx.apps): gunicorn, Celery and every management
command stop with the same messages instead of serving on public secrets. DEBUG is on only with
DJANGO_DEBUG=1 (brandvx.settings.env.env_debug), so a forgotten variable means these checks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)

from brandvx.settings.public_values import repository_values

# (environment variable, setting, check id)
SECRETS = (
    ("DJANGO_SECRET_KEY", "SECRET_KEY", "brandvx.E001"),
    ("SUPABASE_JWT_SECRET", "SUPABASE_JWT_SECRET", "brandvx.E002"),
    ("FIELD_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY", "brandvx.E003"),
    ("DATABASE_APP_PASSWORD", "DATABASE_APP_PASSWORD", "brandvx.E004"),
)
# HS256 with a shorter secret can be brute-forced offline from any one token (RFC 7518 3.2
# asks for a key of at least the hash's size: 256 bits).
MIN_JWT_SECRET_BYTES = 32


def _in_use(variable: str, value: str) -> str:
    if variable == "FIELD_ENCRYPTION_KEY":
        # The first key encrypts: it must be a real one. (A repository key may stay listed
        # after it for decryption while stored values are re-encrypted.)
        return value.split(",")[0].strip()
    return value


def django_would_warn(secret_key: str) -> bool:
    """Django's own rule for a weak SECRET_KEY (`check --deploy`, security.W009), with its constants."""
    return (
        len(set(secret_key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or len(secret_key) < SECRET_KEY_MIN_LENGTH
        or secret_key.startswith(SECRET_KEY_INSECURE_PREFIX)
    )


def _weakness(variable: str, value: str) -> str | None:
    if variable == "DJANGO_SECRET_KEY" and django_would_warn(value):
        # Django's own rule, the one `check --deploy` warns about (security.W009).
        return (
            "is too weak for Django (check --deploy, security.W009: at least 50 characters, "
            "5 different ones, no 'django-insecure-' prefix)"
        )
    if variable == "SUPABASE_JWT_SECRET" and len(value.encode()) < MIN_JWT_SECRET_BYTES:
        return f"is shorter than {MIN_JWT_SECRET_BYTES} bytes"
    return None


@checks.register(checks.Tags.security)
def production_secrets(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []
    errors: list[checks.CheckMessage] = []
    outside = getattr(settings, "OWN_RUNS_ONLY", None)
    if outside:
        # The test or benchmark settings, started outside their own runs (brandvx.settings.env).
        errors.append(
            checks.Error(
                f"DJANGO_SETTINGS_MODULE={settings.SETTINGS_MODULE} with DEBUG off outside its own runs: {outside}",
                hint="Use DJANGO_SETTINGS_MODULE=brandvx.settings with real secrets (see the README's "
                "'What production requires').",
                id="brandvx.E005",
            )
        )
    # Values of the repository that the test or benchmark settings accept inside their own runs.
    allowed: dict[str, frozenset[str]] = getattr(settings, "PUBLIC_VALUES_ALLOWED", {})
    hint_debug = "or set DJANGO_DEBUG=1 on a development machine."
    for variable, setting, check_id in SECRETS:
        value = getattr(settings, setting, None)
        if variable == "SUPABASE_JWT_SECRET" and value is None and settings.SUPABASE_JWKS_URL:
            continue  # asymmetric keys only: HS256 is refused altogether (tenants.auth.supabase)
        if not value:
            problem = "is missing"
        else:
            used = _in_use(variable, value)
            if used in allowed.get(variable, frozenset()):
                continue
            if used in repository_values(variable) and not os.environ.get(variable):
                problem = "is not set (a public value from the repository would be used)"
            elif used in repository_values(variable):
                problem = "is a value that is in the repository (public: development, test or benchmark)"
            else:
                problem = _weakness(variable, value) or ""
        if problem:
            errors.append(
                checks.Error(
                    f"{variable} {problem}, and DEBUG is off.",
                    hint=f"Set {variable} in the environment to a new random value (see the README's "
                    f"configuration section), {hint_debug}",
                    id=check_id,
                )
            )
    return errors


@checks.register(checks.Tags.security)
def public_base_url_set(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    # No secret, but unsubscribe links and Twilio's webhook signatures are built on it.
    if settings.DEBUG or getattr(settings, "PUBLIC_BASE_URL", None):
        return []
    return [
        checks.Error(
            "PUBLIC_BASE_URL is missing, and DEBUG is off.",
            hint="Set PUBLIC_BASE_URL to the address the platform is reached at (https://...): the "
            "links in birthday messages and Twilio's webhook signatures use it.",
            id="brandvx.E006",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def token_issuer_checked(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
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

    errors = production_secrets() + public_base_url_set()
    if errors:
        lines = "\n".join(f"  {error.id}: {error.msg} {error.hint}" for error in errors)
        raise ImproperlyConfigured(f"Refusing to start with DEBUG off and unsafe settings:\n{lines}")
