"""Production security settings, CORS, and the limit on failed authentications."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parents[2]


def production_env() -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="brandvx.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="api.brandvx.example",
        SUPABASE_JWT_SECRET=secrets.token_urlsafe(32),
        SUPABASE_URL="https://project.supabase.co",
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DATABASE_APP_PASSWORD=secrets.token_urlsafe(24),
        CORS_ALLOWED_ORIGINS="https://app.brandvx.example",
        PUBLIC_BASE_URL="https://api.brandvx.example",
    )
    for name in ("SUPABASE_JWKS_URL", "SUPABASE_JWT_ISSUER", "DJANGO_TRUST_X_FORWARDED_PROTO"):
        env.pop(name, None)
    return env


def run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


SECRETS = {
    "DJANGO_SECRET_KEY": "dev-insecure-brandvx-secret-key-change-me-0123456789abcdef",
    "SUPABASE_JWT_SECRET": "brandvx-development-jwt-secret-not-for-production-use",
    "FIELD_ENCRYPTION_KEY": "ZGV2LWJyYW5kdngtZmllbGQta2V5LTMyLWJ5dGVzISE=",
    "DATABASE_APP_PASSWORD": "brandvx_app_dev_password",
}


@pytest.mark.parametrize("variable", sorted(SECRETS))
@pytest.mark.parametrize("how", ["missing", "development value"])
def test_production_refuses_to_start_on_a_missing_or_development_secret(variable, how):
    env = production_env()
    if how == "missing":
        env.pop(variable)
    else:
        env[variable] = SECRETS[variable]
    # What gunicorn (brandvx.wsgi), Celery and every management command do first.
    result = run_python("import brandvx.wsgi", env)
    assert result.returncode != 0
    assert "Refusing to start with DEBUG off" in result.stderr and variable in result.stderr, result.stderr[-2000:]
    assert run_python("import brandvx.wsgi", production_env()).returncode == 0


def test_production_refuses_to_start_without_a_public_base_url():
    env = production_env()
    env.pop("PUBLIC_BASE_URL")
    result = run_python("import brandvx.wsgi", env)
    assert result.returncode != 0
    assert "brandvx.E005" in result.stderr and "PUBLIC_BASE_URL" in result.stderr, result.stderr[-2000:]


def test_check_deploy_reports_every_unsafe_secret_as_an_error():
    env = production_env()
    for variable in SECRETS:
        env.pop(variable)
    env.pop("SUPABASE_URL")  # no issuer: a warning
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    for check_id in ("brandvx.E001", "brandvx.E002", "brandvx.E003", "brandvx.E004", "brandvx.W001"):
        assert check_id in result.stderr, result.stderr
    # A management command other than `check` refuses to start at all.
    migrate = subprocess.run(
        [sys.executable, "manage.py", "showmigrations", "tenants"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode != 0 and "Refusing to start" in migrate.stderr


def test_development_defaults_still_start_with_debug_on():
    env = production_env()
    for variable in SECRETS:
        env.pop(variable)
    env["DJANGO_DEBUG"] = "1"
    result = run_python("import brandvx.wsgi", env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_only_asymmetric_keys_need_no_hs256_secret_and_get_none():
    env = production_env()
    env.pop("SUPABASE_JWT_SECRET")
    env["SUPABASE_JWKS_URL"] = "https://project.supabase.co/auth/v1/.well-known/jwks.json"
    result = run_python("import brandvx.wsgi; from django.conf import settings as s; print(s.SUPABASE_JWT_SECRET)", env)
    assert result.returncode == 0 and result.stdout.strip() == "None", result.stderr[-2000:]
    # The public development secret, set explicitly, is refused even next to a JWKS.
    env["SUPABASE_JWT_SECRET"] = SECRETS["SUPABASE_JWT_SECRET"]
    assert run_python("import brandvx.wsgi", env).returncode != 0


def test_issuer_comes_from_supabase_url_and_proxy_header_is_trusted_only_when_configured():
    code = "import brandvx.wsgi; from django.conf import settings as s; print(s.SUPABASE_JWT_ISSUER, s.SECURE_PROXY_SSL_HEADER)"
    env = production_env()
    assert run_python(code, env).stdout.strip() == "https://project.supabase.co/auth/v1 None"
    env["DJANGO_TRUST_X_FORWARDED_PROTO"] = "1"
    assert (
        run_python(code, env).stdout.strip()
        == "https://project.supabase.co/auth/v1 ('HTTP_X_FORWARDED_PROTO', 'https')"
    )


def test_check_deploy_passes_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_are_hardened():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, "
        "s.SECURE_SSL_REDIRECT, s.CORS_ALLOWED_ORIGINS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=production_env(), capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False True True True True ['https://app.brandvx.example']", result.stderr


@pytest.mark.django_db
def test_cors_answers_only_configured_origins(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.brandvx.example"]
    client = APIClient()
    allowed = client.options(
        "/api/v1/me/", HTTP_ORIGIN="https://app.brandvx.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://app.brandvx.example"
    other = client.options("/api/v1/me/", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert "Access-Control-Allow-Origin" not in other


@pytest.mark.django_db
def test_failed_authentications_are_rate_limited(settings):
    settings.AUTH_FAILURE_LIMIT = 3
    cache.delete("auth-failures:10.9.8.7")
    client = APIClient(REMOTE_ADDR="10.9.8.7")
    codes = [client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer nonsense").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer nonsense")
    assert response.json()["code"] == "too_many_auth_failures" and response["Retry-After"] == "60"
    # Another address is not affected.
    other = APIClient(REMOTE_ADDR="10.9.8.8").get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer nonsense")
    assert other.status_code == 401
    cache.delete("auth-failures:10.9.8.7")


@pytest.mark.django_db
def test_a_valid_token_is_not_locked_out_by_failures_from_its_address(settings):
    from conftest import TenantWorld
    from tenants.testing import token_for

    world = TenantWorld()
    settings.AUTH_FAILURE_LIMIT = 1
    cache.delete("auth-failures:10.9.8.9")
    client = APIClient(REMOTE_ADDR="10.9.8.9")
    assert [client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer nonsense").status_code for _ in range(3)] == [
        401,
        429,
        429,
    ]
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token_for(world.owner_a)}").status_code == 200
    cache.delete("auth-failures:10.9.8.9")
