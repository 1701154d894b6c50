"""Every secret value this repository contains, in one place. Each is public (it is in the
source), so none may protect a deployment: with DEBUG off, brandvx.checks refuses to start on
any of them (the test and benchmark settings allow their own, and only inside their own runs).

- DEVELOPMENT: what the settings use when a variable is unset (a development machine, DEBUG on);
- TEST: the test settings' fixed values (brandvx.settings.test);
- BENCHMARK: the benchmark peers' key (bench/peers/base_settings.py, loopback servers only).
"""

from __future__ import annotations

DEVELOPMENT: dict[str, str] = {
    "DJANGO_SECRET_KEY": "dev-insecure-brandvx-secret-key-change-me-0123456789abcdef",
    "SUPABASE_JWT_SECRET": "brandvx-development-jwt-secret-not-for-production-use",
    "FIELD_ENCRYPTION_KEY": "ZGV2LWJyYW5kdngtZmllbGQta2V5LTMyLWJ5dGVzISE=",
    "DATABASE_APP_PASSWORD": "brandvx_app_dev_password",
}

TEST: dict[str, str] = {
    "DJANGO_SECRET_KEY": "brandvx-test-only-secret-key-7f3c2a9e51d84b06a2c4e8f1d3b5a7c9",
    "SUPABASE_JWT_SECRET": "brandvx-test-only-jwt-secret-3e9d1c7b5a2f48e6",
    "FIELD_ENCRYPTION_KEY": "dGVzdC1vbmx5LWJyYW5kdngtZmllbGQta2V5LTMyYiE=",
}

BENCHMARK: dict[str, str] = {
    "DJANGO_SECRET_KEY": "bench-peer-not-secret",
}


def repository_values(variable: str) -> frozenset[str]:
    """Every value of `variable` found in the repository (development, test, benchmark)."""
    return frozenset(values[variable] for values in (DEVELOPMENT, TEST, BENCHMARK) if variable in values)
