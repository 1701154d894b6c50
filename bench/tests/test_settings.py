"""The benchmarks are a test/benchmark-only app: production settings neither install it nor can
load the settings that turn isolation off (issue 16, layout)."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

ROOT = settings.BASE_DIR


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_SETTINGS_MODULE", "BRANDVX_BENCH_"))}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_SETTINGS_MODULE", "BRANDVX_BENCH_"))}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


OFF_ENV = {
    "BRANDVX_BENCH_ISOLATION_OFF": "1",
    "BRANDVX_BENCH_BYPASS_USER": "someone",
    "BRANDVX_BENCH_BYPASS_PASSWORD": "x",
}
LOAD_OFF = (
    "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['USER'])"
)


def test_production_settings_do_not_install_the_bench_app():
    result = _python(
        "import django; django.setup(); from django.apps import apps; print(apps.is_installed('bench'))",
        DJANGO_SETTINGS_MODULE="brandvx.settings",
        DJANGO_DEBUG="1",  # a development machine: production would refuse the development values
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_production_settings_cannot_import_the_isolation_off_settings():
    # Even with every variable the baseline server gets, a process on the production settings
    # cannot pull settings_off in.
    result = _python(
        "import django; django.setup(); import bench.settings_off",
        DJANGO_SETTINGS_MODULE="brandvx.settings",
        DJANGO_DEBUG="1",
        **OFF_ENV,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "baseline server only" in result.stderr


def test_the_isolation_off_settings_load_only_as_the_benchmarks_baseline():
    refused = _python(
        LOAD_OFF,
        DJANGO_SETTINGS_MODULE="bench.settings_off",
        **{k: v for k, v in OFF_ENV.items() if k != "BRANDVX_BENCH_ISOLATION_OFF"},
    )
    assert refused.returncode != 0 and "ImproperlyConfigured" in refused.stderr
    # The positive case, so that the refusals above are not just a broken module.
    loaded = _python(LOAD_OFF, DJANGO_SETTINGS_MODULE="bench.settings_off", **OFF_ENV)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip().splitlines()[-1] == "someone"


def test_the_bench_commands_exist_only_with_the_bench_settings():
    production = _manage("benchmark", "--help", DJANGO_SETTINGS_MODULE="brandvx.settings", DJANGO_DEBUG="1")
    assert production.returncode != 0 and "Unknown command: 'benchmark'" in production.stderr
    for command in ("benchmark", "loadtest", "bench_birthdays", "bench_square_import"):
        # manage.py picks bench.settings for them when no settings module is given.
        result = _manage(command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert "usage: manage.py " + command in result.stdout
    assert "--scale {large,small,big-tenant}" in _manage("benchmark", "--help").stdout
