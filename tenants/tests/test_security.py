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

from brandvx.settings import public_values

ROOT = Path(__file__).resolve().parents[2]


# The marks of the test and benchmark settings' own runs (brandvx.settings.env): a production
# process never has them.
OWN_RUN_MARKS = ("BRANDVX_TEST_RUN", "BRANDVX_BENCH_RUN")


def production_env() -> dict:
    env = {name: value for name, value in os.environ.items() if name not in OWN_RUN_MARKS}
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


SECRETS = public_values.DEVELOPMENT


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
    assert "brandvx.E006" in result.stderr and "PUBLIC_BASE_URL" in result.stderr, result.stderr[-2000:]


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


# --- fail closed (issue 24): the start-up matrix, each case a real process ---------------------

REFUSAL = "Refusing to start with DEBUG off and unsafe settings"


def assert_refuses(result: subprocess.CompletedProcess, *needles: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert REFUSAL in output, output[-3000:]
    for needle in needles:
        assert needle in output, (needle, output[-3000:])


@pytest.mark.parametrize("debug", [None, "", "0", "false", "False", "true", "yes", "on", "1 ", "01"])
def test_debug_is_on_only_with_django_debug_1_exactly(debug):
    """Issue 24: `env -u DJANGO_DEBUG gunicorn brandvx.wsgi` started on every development value.
    Anything but DJANGO_DEBUG=1 is production: the development values are refused."""
    env = production_env()
    for variable in SECRETS:
        env.pop(variable)
    env.pop("DJANGO_DEBUG")
    if debug is not None:
        env["DJANGO_DEBUG"] = debug
    assert_refuses(run_python("import brandvx.wsgi", env), *(check for _, _, check in CHECKS))


CHECKS = (
    ("DJANGO_SECRET_KEY", "SECRET_KEY", "brandvx.E001"),
    ("SUPABASE_JWT_SECRET", "SUPABASE_JWT_SECRET", "brandvx.E002"),
    ("FIELD_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY", "brandvx.E003"),
    ("DATABASE_APP_PASSWORD", "DATABASE_APP_PASSWORD", "brandvx.E004"),
)


def test_debug_1_is_development_and_real_secrets_with_debug_unset_are_production():
    code = "import brandvx.wsgi; from django.conf import settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE)"
    env = production_env()
    env.pop("DJANGO_DEBUG")
    started = run_python(code, env)
    assert started.returncode == 0 and started.stdout.split()[-2:] == ["False", "True"], started.stderr[-2000:]
    env["DJANGO_DEBUG"] = "1"
    started = run_python(code, env)
    assert started.returncode == 0 and started.stdout.split()[-2:] == ["True", "False"], started.stderr[-2000:]


REPOSITORY_VALUES = [
    (variable, source, value)
    for source, values in (("test", public_values.TEST), ("benchmark", public_values.BENCHMARK))
    for variable, value in values.items()
]


@pytest.mark.parametrize(("variable", "source", "value"), REPOSITORY_VALUES)
def test_production_refuses_every_secret_value_that_is_in_the_repository(variable, source, value):
    """The test settings' JWT secret (and every other test or benchmark value) started production."""
    env = production_env()
    env[variable] = value
    assert_refuses(run_python("import brandvx.wsgi", env), variable, "in the repository")


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("SUPABASE_JWT_SECRET", "x", "shorter than 32 bytes"),
        ("SUPABASE_JWT_SECRET", "s" * 31, "shorter than 32 bytes"),
        ("SUPABASE_JWT_SECRET", "é" * 15, "shorter than 32 bytes"),  # 30 bytes, 15 characters
        ("DJANGO_SECRET_KEY", "short-but-random-1f9c2", "security.W009"),
        ("DJANGO_SECRET_KEY", "abcd" * 20, "security.W009"),  # 80 characters, 4 different ones
        ("DJANGO_SECRET_KEY", "django-insecure-" + secrets.token_urlsafe(48), "security.W009"),
    ],
)
def test_production_refuses_weak_secrets(variable, value, reason):
    env = production_env()
    env[variable] = value
    assert_refuses(run_python("import brandvx.wsgi", env), variable, reason)


def test_a_32_byte_jwt_secret_and_a_key_django_accepts_start():
    env = production_env()
    env["SUPABASE_JWT_SECRET"] = "k" * 16 + secrets.token_hex(8)  # exactly 32 bytes
    env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(38)[:50]  # exactly 50 characters
    result = run_python("import brandvx.wsgi", env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_check_reports_the_weak_and_repository_secrets_as_errors():
    env = production_env()
    env["SUPABASE_JWT_SECRET"] = public_values.TEST["SUPABASE_JWT_SECRET"]
    env["DJANGO_SECRET_KEY"] = "too-short"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "brandvx.E001" in result.stderr and "brandvx.E002" in result.stderr, result.stderr


def _test_settings_env() -> dict:
    """What a deployment that picked the test settings has: none of the test run's marks."""
    env = production_env()
    for variable in SECRETS:
        env.pop(variable)
    env.update(DJANGO_SETTINGS_MODULE="brandvx.settings.test")
    env.pop("DJANGO_DEBUG")
    return env


def test_the_test_settings_refuse_to_serve_under_gunicorn():
    """`DJANGO_SETTINGS_MODULE=brandvx.settings.test gunicorn brandvx.wsgi` started (DEBUG off,
    the test settings' public values)."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "brandvx.wsgi", "--bind", "127.0.0.1:0", "--workers", "1"],
        cwd=ROOT,
        env=_test_settings_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_refuses(result, "brandvx.E005", "brandvx.settings.test", "outside its own runs")


def test_the_test_settings_refuse_a_copied_test_run_mark_outside_that_run(tmp_path):
    """The mark names this pytest process; a process that does not descend from it (started by
    a shell that exits at once, so it is re-parented) is outside the run, mark or not."""
    env = _test_settings_env()
    env["BRANDVX_TEST_RUN"] = os.environ["BRANDVX_TEST_RUN"]  # this run's own mark, copied
    out = tmp_path / "out.txt"
    code = "import brandvx.wsgi"
    subprocess.run(
        ["sh", "-c", f'( "$0" -c "{code}" > "{out}" 2>&1; echo "exit=$?" >> "{out}" ) &', sys.executable],
        cwd=ROOT,
        env=env,
        timeout=30,
        start_new_session=True,
    )
    import time

    deadline = time.monotonic() + 120
    while "exit=" not in (out.read_text() if out.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    output = out.read_text()
    assert "exit=0" not in output and REFUSAL in output and "brandvx.E005" in output, output[-3000:]
    # Started as a child of this run, the same mark is inside it: the settings load.
    inside = run_python("import brandvx.wsgi; print('started')", env)
    assert inside.returncode == 0 and inside.stdout.strip().endswith("started"), inside.stderr[-2000:]


def test_the_bench_server_flag_alone_no_longer_opens_the_bench_settings():
    """`bench.settings` with BRANDVX_BENCH_SERVER=1 started on the development values."""
    env = production_env()
    for variable in SECRETS:
        env.pop(variable)
    env.update(DJANGO_SETTINGS_MODULE="bench.settings", DJANGO_DEBUG="0", BRANDVX_BENCH_SERVER="1")
    assert_refuses(run_python("import bench.wsgi", env), "brandvx.E005", "bench.settings")
    # Inside a benchmark run (a process that marked itself as one started it), the same start
    # is allowed, as the benchmark's own gunicorn servers need.
    parent = (
        "import subprocess, sys; "
        "from brandvx.settings.env import mark_own_run; mark_own_run('BRANDVX_BENCH_RUN'); "
        "sys.exit(subprocess.run([sys.executable, '-c', 'import bench.wsgi; print(4242)']).returncode)"
    )
    inside = run_python(parent, env)
    assert inside.returncode == 0 and "4242" in inside.stdout, inside.stderr[-2000:]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_SUPPORT_ROLE", "brandvx-support"),
        ("DATABASE_SUPPORT_ROLE", "Brandvx_Support"),
        ("DATABASE_SUPPORT_ROLE", "2support"),
        ("DATABASE_SUPPORT_ROLE", 'support"; drop'),
        ("DATABASE_APP_ROLE", "app role"),
        ("DATABASE_APP_ROLE", "a" * 64),
    ],
)
def test_role_names_are_checked_when_the_settings_load(variable, value):
    env = production_env()
    env[variable] = value
    result = run_python("import brandvx.wsgi", env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and f"{variable}={value!r}" in result.stderr, result.stderr[-2000:]


@pytest.mark.django_db
def test_support_reads_work_with_a_role_name_that_has_digits(settings):
    """A support role with digits passed `migrate`, then every support read was a 500: the
    tenant context accepted only [a-z_]. The settings and the context now share one pattern."""
    import psycopg

    from conftest import TenantWorld
    from tenants.context import dangerously_support_read_context
    from tenants.models import Tenant

    owner = settings.DATABASES["owner"]
    conninfo = {"dbname": owner["NAME"], "user": owner["USER"], "password": owner["PASSWORD"] or None}
    conninfo.update({k.lower(): str(owner[k]) for k in ("HOST", "PORT") if owner.get(k)})
    role = f"brandvx_support_{os.getpid()}_2"
    with psycopg.connect(**{k: v for k, v in conninfo.items() if v}, autocommit=True) as admin:
        # A role that has what the support role has (as its member) and that the runtime role
        # may switch to: what `migrate` makes of DATABASE_SUPPORT_ROLE=<role>.
        admin.execute(f'CREATE ROLE "{role}" NOLOGIN IN ROLE "{settings.DATABASE_SUPPORT_ROLE}"')
        admin.execute(f'GRANT "{role}" TO "{settings.DATABASE_APP_ROLE}"')
        try:
            world = TenantWorld()
            settings.DATABASE_SUPPORT_ROLE = role
            with dangerously_support_read_context(staff_user_id=None):
                names = set(
                    Tenant.objects.filter(id__in=[world.tenant_a.id, world.tenant_b.id]).values_list("name", flat=True)
                )
            assert names == {"Salon A", "Salon B"}
        finally:
            admin.execute(f'DROP ROLE "{role}"')
