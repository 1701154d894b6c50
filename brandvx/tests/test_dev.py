"""`scripts/run` says what is true (issue 23, item 6): the real port everywhere, the browser
sign-in, the development-values warning; a busy port refused before anything changes; `stop`
says what it stopped."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.management import call_command

from brandvx import dev, embedded

ROOT = settings.BASE_DIR


def test_a_busy_port_is_refused_before_anything_is_changed():
    """A second scripts/run on a busy port printed a full success banner and reset the running
    instance's admin password (seed_demo) before gunicorn failed to bind."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {name: value for name, value in os.environ.items() if not name.startswith("BRANDVX_")}
        # Unreachable services: had run() migrated or seeded first, it would fail there, with
        # another message.
        env.update(
            DATABASE_URL="postgresql://nobody@127.0.0.1:9/none",
            REDIS_URL="redis://127.0.0.1:9/0",
            DJANGO_DEBUG="1",
            DJANGO_SETTINGS_MODULE="brandvx.settings",
        )
        result = subprocess.run(
            [sys.executable, "-m", "brandvx.dev", "run", str(port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"127.0.0.1:{port} is already in use" in result.stderr and "Nothing was changed" in result.stderr
    assert result.stdout == "", result.stdout  # no banner, no admin login, no embedded servers


@pytest.mark.parametrize(
    ("argument", "expected"),
    [(None, ("127.0.0.1", 8000)), ("8001", ("127.0.0.1", 8001)), ("0.0.0.0:9000", ("0.0.0.0", 9000))],
)
def test_the_port_argument(argument, expected):
    assert dev.parse_bind(argument) == expected


@pytest.mark.parametrize("argument", ["http", "70000", "host:"])
def test_a_bad_port_argument_is_refused(argument):
    with pytest.raises(dev.DevError):
        dev.parse_bind(argument)


@pytest.mark.django_db
def test_the_banner_names_the_real_port_the_sign_in_page_and_the_development_values():
    """The curl line said 8000 whatever the port; the sign-in page and the README's warning
    about development values were never printed."""
    out = io.StringIO()
    call_command("seed_demo", base_url="http://127.0.0.1:8123", stdout=out)
    text = dev.banner(
        host="127.0.0.1",
        port=8123,
        demo=out.getvalue(),
        development_values=["DJANGO_SECRET_KEY", "SUPABASE_JWT_SECRET"],
        debug=True,
    )
    urls = re.findall(r"https?://[^\s/']+", text)
    assert len(urls) >= 5 and set(urls) == {"http://127.0.0.1:8123"}, urls
    assert "curl -H 'Authorization: Bearer " in text and "http://127.0.0.1:8123/api/v1/me/" in text
    assert "http://127.0.0.1:8123/api-auth/login/" in text
    assert "WARNING: development settings (DEBUG on): public development values for DJANGO_SECRET_KEY, " in text


def test_development_values_in_use_lists_what_is_unset_or_public(monkeypatch):
    from brandvx.settings.public_values import DEVELOPMENT

    for name in DEVELOPMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DJANGO_SECRET_KEY", "a-real-one-" + "x" * 50)
    monkeypatch.setenv("SUPABASE_JWT_SECRET", DEVELOPMENT["SUPABASE_JWT_SECRET"])
    assert dev.development_values_in_use() == ["SUPABASE_JWT_SECRET", "FIELD_ENCRYPTION_KEY", "DATABASE_APP_PASSWORD"]


def test_stop_says_what_it_stopped(tmp_path, monkeypatch, capsys):
    """`python -m brandvx.dev stop` printed nothing, whether it stopped anything or not."""
    monkeypatch.setattr(embedded, "REDIS_DIR", tmp_path / "redis")
    monkeypatch.setattr(embedded, "PG_DIR", tmp_path / "pgdata")
    url = embedded.redis_url()  # a real redis-server of this test's own, in tmp_path
    pid = int((tmp_path / "redis" / "redis.pid").read_text())
    assert dev.main(["stop"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said == [
        f"Embedded Redis: stopped (pid {pid}, {url})",
        f"Embedded PostgreSQL: not running ({tmp_path / 'pgdata'})",
    ]
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)
    assert dev.main(["stop"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"Embedded Redis: not running ({tmp_path / 'redis'})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (the daemonized server is not our child, but be safe) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False
