"""One way for the tenant to come in (issue 26): services and selectors take `*, tenant: Tenant`
(keyword only; never a `tenant_id`, never the ambient context alone), and a statement names
its tenant only through `tenants.models.for_tenant` / `get_in_tenant`, never with its own
`.filter(tenant_id=...)`.

Read from the source (ast), per app, so a new function that breaks the rule fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("tenants", "clients", "analytics", "campaigns", "integrations")
MODULES = ("services.py", "selectors.py")
QUERY_METHODS = {"filter", "exclude", "get", "Q"}
TENANT_KEYWORDS = {"tenant", "tenant_id"}

# Public functions of services/selectors that are not scoped to one tenant, with the reason.
NOT_TENANT_SCOPED = {
    # The platform's own registry: a tenant is created from outside any tenant.
    ("tenants", "services.py", "tenant_create"),
}


def _modules(app: str) -> list[Path]:
    return [ROOT / app / name for name in MODULES if (ROOT / app / name).exists()]


def _keyword_only_tenant(function: ast.FunctionDef) -> bool:
    return any(arg.arg == "tenant" for arg in function.args.kwonlyargs)


def signature_violations(source: str, where: tuple[str, str]) -> list[str]:
    found = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        if (*where, node.name) in NOT_TENANT_SCOPED:
            continue
        names = [arg.arg for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)]
        if "tenant_id" in names:
            found.append(f"{node.name}: takes `tenant_id` (take `*, tenant: Tenant`)")
        elif not _keyword_only_tenant(node):
            found.append(f"{node.name}: does not take `*, tenant` (keyword only)")
    return found


def filter_violations(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name not in QUERY_METHODS:
            continue
        for keyword in node.keywords:
            if keyword.arg is not None and keyword.arg.split("__")[0] in TENANT_KEYWORDS:
                found.append(f"line {node.lineno}: {name}({keyword.arg}=...) (use for_tenant / get_in_tenant)")
    return found


@pytest.mark.parametrize("app", APPS)
def test_services_and_selectors_take_the_tenant_keyword_only(app):
    violations = []
    for path in _modules(app):
        violations += [f"{app}/{path.name}: {v}" for v in signature_violations(path.read_text(), (app, path.name))]
    assert violations == []


@pytest.mark.parametrize("app", APPS)
def test_statements_name_their_tenant_only_through_for_tenant(app):
    violations = []
    for path in _modules(app):
        violations += [f"{app}/{path.name}: {v}" for v in filter_violations(path.read_text())]
    assert violations == []


def test_the_rules_catch_what_they_are_for():
    planted = """
def client_list(tenant_id):
    return Client.objects.filter(tenant_id=tenant_id)

def client_get(tenant, client_id):
    return Client.objects.get(tenant=tenant, id=client_id)

def client_count(*, tenant):
    return for_tenant(Client.objects.all(), tenant).exclude(Q(tenant__isnull=True)).count()

def _private(tenant_id):
    return 1
"""
    assert signature_violations(planted, ("clients", "services.py")) == [
        "client_list: takes `tenant_id` (take `*, tenant: Tenant`)",
        "client_get: does not take `*, tenant` (keyword only)",
    ]
    assert [v.split(": ", 1)[1] for v in filter_violations(planted)] == [
        "filter(tenant_id=...) (use for_tenant / get_in_tenant)",
        "get(tenant=...) (use for_tenant / get_in_tenant)",
        "Q(tenant__isnull=...) (use for_tenant / get_in_tenant)",
    ]
