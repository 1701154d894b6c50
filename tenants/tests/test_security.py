"""Production security settings, CORS, and the limit on failed authentications."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
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
        FIELD_ENCRYPTION_KEY="ZGV2LWJyYW5kdngtZmllbGQta2V5LTMyLWJ5dGVzISE=",
        CORS_ALLOWED_ORIGINS="https://app.brandvx.example",
    )
    return env


def test_check_deploy_passes_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=production_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_are_hardened():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, "
        "s.SECURE_SSL_REDIRECT, s.CORS_ALLOWED_ORIGINS)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=production_env(), capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False True True True True ['https://app.brandvx.example']", result.stderr


@pytest.mark.django_db
def test_cors_answers_only_configured_origins(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.brandvx.example"]
    client = APIClient()
    allowed = client.options("/api/v1/me/", HTTP_ORIGIN="https://app.brandvx.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
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
    assert [client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer nonsense").status_code for _ in range(3)] == [401, 429, 429]
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token_for(world.owner_a)}").status_code == 200
    cache.delete("auth-failures:10.9.8.9")
