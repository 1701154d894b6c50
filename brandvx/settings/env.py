"""Typed readers for environment variables. Settings read, they never write secrets inline."""

import os
import re
import warnings
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    import psutil

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None = None) -> str | None: ...
def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


# Every secret's public development value, by variable name (from brandvx.settings.public_values,
# recorded as each is read): used when the variable is unset, and refused with DEBUG off.
DEVELOPMENT_SECRETS: dict[str, str] = {}


def env_secret(name: str) -> tuple[str, bool]:
    """Return (value, is_development_default). Warns when the development value is used."""
    from .public_values import DEVELOPMENT

    development_default = DEVELOPMENT[name]
    DEVELOPMENT_SECRETS[name] = development_default
    value = os.environ.get(name)
    if value:
        return value, value == development_default
    warnings.warn(f"{name} is not set: using a development value. Never do this in production.", stacklevel=2)
    return development_default, True


def env_debug() -> bool:
    """DEBUG is on only when DJANGO_DEBUG is exactly `1`. Unset, `0`, `false`, `yes`, anything
    else: production, with every production check (fail closed: a deployment that forgets the
    variable does not start on the development values)."""
    return os.environ.get("DJANGO_DEBUG") == "1"


# A database role name the project accepts: lower-case letters, digits and underscores, not
# starting with a digit, at most 63 bytes (PostgreSQL's identifier limit). The support role is
# switched to with SET LOCAL ROLE (tenants.context checks the same pattern), so a name that
# PostgreSQL would take but the context refuses can never get past the settings.
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def env_role(name: str, default: str) -> str:
    value = env_str(name, default)
    if not ROLE_NAME.fullmatch(value):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"{name}={value!r} is not a role name this project accepts: lower-case letters, digits and "
            "underscores, not starting with a digit, at most 63 characters (e.g. brandvx_support2)."
        )
    return value


# --- the test and benchmark settings' own runs ----------------------------------------------
# The test settings (brandvx.settings.test) and the benchmark's (bench.settings) accept the
# repository's public values with DEBUG off, but only inside their own runs: a process that is
# one (pytest, `manage.py benchmark`...) marks itself in an environment variable with its pid
# and start time; a process it starts (a Celery worker, a gunicorn) inherits the mark and is
# inside the run only while that process is really one of its ancestors. A copied environment
# (a deployment started with DJANGO_SETTINGS_MODULE=brandvx.settings.test) is not.


def _stamp(process: "psutil.Process") -> str:
    return f"{process.pid}:{process.create_time():.2f}"


def mark_own_run(variable: str) -> None:
    """This process is one of the settings' own runs: so are the processes it starts."""
    import psutil

    os.environ[variable] = _stamp(psutil.Process())


def inside_own_run(variable: str) -> bool:
    """True when the process `variable` names (pid and start time) is this process or one of
    its ancestors."""
    import psutil

    mark = os.environ.get(variable, "")
    if not mark:
        return False
    try:
        me = psutil.Process()
        return any(_stamp(process) == mark for process in [me, *me.parents()])
    except psutil.Error:
        return False
