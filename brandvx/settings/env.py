"""Typed readers for environment variables. Settings read, they never write secrets inline."""

import os
import warnings
from typing import overload

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


# Every secret's public development value, by variable name: brandvx.checks refuses to run
# with DEBUG off while any of them is in use (it is in the source, so it is no secret).
DEVELOPMENT_SECRETS: dict[str, str] = {}


def env_secret(name: str, development_default: str) -> tuple[str, bool]:
    """Return (value, is_development_default). Warns when the development value is used."""
    DEVELOPMENT_SECRETS[name] = development_default
    value = os.environ.get(name)
    if value:
        return value, value == development_default
    warnings.warn(f"{name} is not set: using a development value. Never do this in production.", stacklevel=2)
    return development_default, True
