"""Optional per-app modules found by convention (`<app>/demo.py`, `<app>/tests/world.py`)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType

DOMAIN_APPS = ("tenants", "clients", "analytics", "campaigns", "integrations")


def optional_modules(submodule: str, apps: tuple[str, ...] = DOMAIN_APPS) -> Iterator[tuple[str, ModuleType]]:
    """(app, module) for each app that has `<app>.<submodule>`, in app order. An import error
    inside an existing module is raised, not mistaken for the module being absent."""
    for app in apps:
        name = f"{app}.{submodule}"
        try:
            yield app, importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
