"""The rooms' doors, checked by reading the code (ast), so that they stay true.

1. Apps never use each other's internals. What another app may import of an app:
   `<app>.models`, `<app>.services`, `<app>.selectors`, `<app>.records` (value types) and `<app>.rules` (its rules and limits),
   nothing else (not `<app>.api.*`, `<app>.imports`, `<app>.normalize`, ...); the shared
   foundation (`tenants`, `brandvx`, `common`) may be imported by every app. No module
   imports a private name (`_name`) of another module, in its own app or not. Tests and
   migrations are exempt (tests build worlds from any part; migrations are frozen history),
   and so is `bench`, the benchmark harness, which drives the apps' inner paths on purpose
   as tests do. The project's wiring (`brandvx.urls`, settings, the Celery and server entry
   points) is where the apps are plugged in: it may import their views and URL maps, and is
   checked for private names only.
2. The importers are mappers: no module under integrations/importers writes a table
   itself (no save, create, update, delete, bulk write or raw SQL); writing goes through
   the owning domain's services.

Each rule is also run on planted examples below, so a rule that can no longer fail fails.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("tenants", "clients", "analytics", "campaigns", "integrations", "bench")
WIRING = ("brandvx.urls", "brandvx.settings", "brandvx.celery", "brandvx.asgi", "brandvx.wsgi")
SHARED = ("tenants", "brandvx", "common")
PUBLIC_MODULES = ("models", "services", "selectors", "records", "rules")
EXEMPT_PARTS = ("tests", "migrations")


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted module
    names: tuple[str, ...]  # the names a `from` import takes ((): a plain `import`)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    """Every import of a module's source, at any depth (inside functions too), absolute."""
    found: list[Import] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, target] if target else base)
            if target == "__future__":
                continue
            found.append(Import(target, tuple(alias.name for alias in node.names), node.lineno))
    return found


def boundary_violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """What `module` imports that the rules above forbid, as "module:line: reason"."""
    own_app = module.split(".")[0]
    problems = []
    for imp in imports_in(source, module, is_package=is_package):
        where = f"{module}:{imp.line}"
        target_app = imp.module.split(".")[0]
        private = [name for name in imp.names if name.startswith("_")]
        if private and target_app in (*APPS, *SHARED):
            problems.append(f"{where}: imports private {', '.join(private)} from {imp.module}")
        if target_app not in APPS or target_app == own_app or target_app in SHARED:
            continue
        if module.startswith(WIRING):
            continue  # the project's wiring plugs the apps in
        rest = imp.module.split(".")[1:]
        if len(rest) == 1 and rest[0] in PUBLIC_MODULES:
            continue
        if not rest and imp.names and all(name in PUBLIC_MODULES for name in imp.names):
            continue  # from clients import services
        what = imp.module if rest or not imp.names else f"{imp.module}.{{{', '.join(imp.names)}}}"
        problems.append(f"{where}: imports {what}, not a public module of {target_app}")
    return problems


def project_modules():
    for app in (*(app for app in APPS if app != "bench"), "brandvx", "common"):
        for path in sorted((ROOT / app).rglob("*.py")) if (ROOT / app).is_dir() else ():
            if any(part in EXEMPT_PARTS for part in path.relative_to(ROOT).parts):
                continue
            yield path


def test_no_app_imports_another_apps_internals():
    problems = []
    for path in project_modules():
        problems += boundary_violations(path.read_text(), module_name(path), is_package=path.name == "__init__.py")
    assert problems == []


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from clients.normalize import normalize_email\n", "integrations.importers.base", "clients.normalize"),
        ("from clients.api.views import ClientViewSet\n", "analytics.selectors", "clients.api.views"),
        ("import clients.imports\n", "campaigns.services", "clients.imports"),
        ("def f():\n    from analytics import tasks\n", "integrations.sync", "analytics.{tasks}"),
        ("from clients.services import _apply\n", "integrations.importers.base", "private _apply"),
        ("from ._helpers import _shared\n", "clients.services", "private _shared"),
        ("from .normalize import split_phone\n", "integrations.importers.base", None),  # own app
        ("from . import views\n", "clients.api", None),
        ("from campaigns.views import unsubscribe_page\n", "brandvx.urls", None),  # the wiring
        ("from campaigns.views import unsubscribe_page\n", "common.errors", "campaigns.views"),
    ],
)
def test_the_boundary_rule_finds_planted_violations(source, module, expected):
    problems = boundary_violations(source, module)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize(
    "source",
    [
        "from clients.models import Client\nfrom clients.services import client_upsert\n",
        "from clients import services, records\n",
        "from tenants.context import tenant_context\nfrom common.errors import Conflict\n",
        "from analytics.records import SaleRecord\nfrom analytics.selectors import dashboard\n",
    ],
)
def test_the_boundary_rule_lets_the_public_doors_through(source):
    assert boundary_violations(source, "integrations.importers.square") == []


# --- the importers are mappers -------------------------------------------------------------

# Model and queryset methods that write; `update` only on a queryset (a dict or a set has one).
WRITE_METHODS = {
    "save",
    "delete",
    "create",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
    "raw",
    "execute",
    "executemany",
    "cursor",
}
QUERYSET_MAKERS = {"objects", "filter", "exclude", "all", "select_for_update", "select_related", "prefetch_related"}


def _is_queryset(node: ast.expr) -> bool:
    """Whether an expression is an ORM manager or queryset chain (`X.objects...filter(...)`,
    `obj.related.all()`)."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            if node.attr in QUERYSET_MAKERS:
                return True
            node = node.value
        else:
            return False


def table_writes(source: str, module: str) -> list[str]:
    """The statements of `source` that write a table themselves, as "module:line: what"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method in WRITE_METHODS or (method == "update" and _is_queryset(node.func.value)):
                found.append(f"{module}:{node.lineno}: .{method}(")
        elif isinstance(node, ast.ImportFrom) and node.module in ("django.db", "django.db.models.expressions"):
            raw = [a.name for a in node.names if a.name in ("connection", "connections", "RawSQL")]
            if raw:
                found.append(f"{module}:{node.lineno}: imports {', '.join(raw)} (raw SQL)")
    return found


def test_no_importer_writes_a_table():
    importers = sorted((ROOT / "integrations" / "importers").glob("*.py"))
    assert len(importers) >= 5, importers  # base, square, acuity, hubspot, custom_crm
    problems = []
    for path in importers:
        problems += table_writes(path.read_text(), module_name(path))
    assert problems == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f(c):\n    c.save(update_fields=['name'])\n", ".save("),
        ("Client.objects.create(tenant=t)\n", ".create("),
        ("Refund.objects.filter(transaction=s).update(amount=1)\n", ".update("),
        ("sale.line_items.all().delete()\n", ".delete("),
        ("TransactionLineItem.objects.bulk_create(lines)\n", ".bulk_create("),
        ("Service.objects.get_or_create(external_id='1')\n", ".get_or_create("),
        ("from django.db import connection\n", "raw SQL"),
        ("with c.cursor() as cur:\n    cur.execute('DELETE FROM refund')\n", ".execute("),
    ],
)
def test_the_mapper_rule_finds_planted_writes(source, expected):
    problems = table_writes(source, "integrations.importers.planted")
    assert any(expected in problem for problem in problems), problems


def test_the_mapper_rule_lets_reads_and_plain_updates_through():
    source = (
        "links = {}\nlinks.update({'a': 1})\nseen = set()\nseen.update(['x'])\n"
        "rows = list(Client.objects.filter(id__in=ids).values_list('id', flat=True))\n"
        "with transaction.atomic():\n    outcome = client_upsert(tenant=t, source='square', record=r)\n"
    )
    assert table_writes(source, "integrations.importers.planted") == []
