"""Route-walking isolation: every API route, every method, as tenant B on tenant A's data.

The walker reads the URL router, so an endpoint added tomorrow is checked tomorrow. A route
it cannot exercise must be listed in EXEMPT with the reason; an unlisted route that it does
not know how to call fails the test (it cannot silently escape).
"""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from conftest import build_full_world
from tenants.context import tenant_context
from tenants.models import ChangeRecord, TenantModel

pytestmark = [pytest.mark.django_db, pytest.mark.citus]

# Routes the walker does not call, and why. Keep reasons honest: each is covered elsewhere.
EXEMPT: dict[str, str] = {
    "webhook-square": "no user auth: signature-verified, tenant found by merchant id (integrations tests)",
    "webhook-acuity": "no user auth: signature-verified per connection (integrations tests)",
    "custom-crm-import": "authenticated by a connection API key, not a user token (integrations tests)",
    "webhook-twilio-sms": "no user auth: signed with the tenant's own Twilio token; tenant B's signed STOP "
    "for a number of tenant A changes nothing (campaigns/tests/test_webhooks.py)",
    "webhook-twilio-status": "no user auth: signed with the tenant's own Twilio token; tenant B's callback "
    "for tenant A's message sid changes nothing (campaigns/tests/test_webhooks.py)",
    "webhook-email": "no user auth: the ESP's basic auth (anymail); an event naming another tenant's draft "
    "changes nothing (campaigns/tests/test_webhooks.py)",
}

# POST on collection routes: a body naming tenant A's objects, and the statuses that are
# correct for it. `None` marks a route that acts in the caller's own tenant and whose body
# names no existing object (it creates from scratch): nothing of A's to point it at.


def _foreign_bodies(a: dict) -> dict[str, tuple[dict | None, set[int]]]:
    client = a.get("clients", {}).get("client_id")
    service = a.get("analytics", {}).get("service_id")
    category = a.get("analytics", {}).get("category_id")
    return {
        "client-merge": ({"source": client, "target": client}, {404}),
        "client-list": (None, set()),
        "appointment-list": (
            {
                "client": client,
                "service": service,
                "start_at": "2030-01-01T10:00:00Z",
                "end_at": "2030-01-01T11:00:00Z",
                "price_amount": 100,
                "currency": "USD",
            },
            {400, 404},
        ),
        "transaction-list": (
            {
                "client": client,
                "occurred_at": "2030-01-01T10:00:00Z",
                "total_amount": 100,
                "currency": "USD",
                "line_items": [{"service": service, "amount": 100, "quantity": "1"}],
            },
            {400, 404},
        ),
        "service-list": ({"name": "Cut", "category": category, "price_amount": 100, "currency": "USD"}, {400, 404}),
        "service-category-list": (None, set()),
        "message-draft-bulk-approve": ({"ids": [a.get("campaigns", {}).get("draft_id")]}, {200, 400, 404}),
        "client-import": (None, set()),
        "birthday-batch": (None, set()),
        "integration-list": (None, set()),
        # The caller's own singleton settings: no object id in the path or the body.
        "campaigns-settings": (None, set()),
        # Starts a sync of the caller's own connection; the provider is not an object id.
        "integration-sync": (None, set()),
        # The caller's own business: its deletion (confirmed by its own name), the deletion's
        # cancellation, its export. No object id anywhere (test_lifecycle, test_tenant_export).
        "tenant-delete": (None, set()),
        "tenant-delete-cancel": (None, set()),
        "tenant-export": (None, set()),
    }


# Values for URL keyword arguments that are not object ids.
def _kwarg_values(a: dict) -> dict[str, str]:
    return {
        "name": str(a.get("clients", {}).get("tag_name", "")),
        "tag_name": str(a.get("clients", {}).get("tag_name", "")),
        "provider": "square",
        # A job of tenant A's named in B's download URL (not an export: the download of A's
        # export as B is tenants/tests/test_tenant_export.py).
        "job_id": str(a.get("tenants", {}).get("job_id", "")),
    }


def api_patterns() -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns, prefix: str):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                found.append((prefix + str(pattern.pattern), pattern))

    walk(get_resolver().url_patterns, "")
    return [(route, p) for route, p in found if route.startswith("api/v1/")]


def methods_of(pattern: URLPattern) -> list[str]:
    callback = pattern.callback
    actions = getattr(callback, "actions", None)  # a viewset's view function carries its actions
    if actions:
        return sorted(m for m in actions if m not in ("options", "head"))
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        return ["get"]
    return sorted(
        m for m in view_class.http_method_names if m not in ("options", "head", "trace") and hasattr(view_class, m)
    )


def model_of(pattern: URLPattern):
    view_class = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
    queryset = getattr(view_class, "queryset", None)
    return queryset.model if queryset is not None else None


def body_text(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode(errors="replace")


def markers(value) -> set[str]:
    """Every id and secret string in a world data dict, as text."""
    found: set[str] = set()
    if isinstance(value, dict):
        for v in value.values():
            found |= markers(v)
    elif isinstance(value, (list, tuple, set)):
        for v in value:
            found |= markers(v)
    elif isinstance(value, uuid.UUID):
        found.add(str(value))
    elif isinstance(value, str) and len(value) >= 6:
        found.add(value)
    return found


# Reads that audit themselves: A's own GET of the route (the walker's check that the route
# works) writes this change record in A, by A's owner: those rows alone are left out.
SELF_AUDITED_ACTIONS = ("client.exported", "tenant.export_downloaded")


def snapshot(tenant, own_reader=None) -> dict[str, str]:
    """Everything tenant A owns, to prove B's calls changed nothing."""
    state = {}
    with tenant_context(tenant.id, role="system"):
        for model in apps.get_models():
            if issubclass(model, TenantModel):
                queryset = model.objects.all()
                if model is ChangeRecord:
                    queryset = ChangeRecord.objects.exclude(action__in=SELF_AUDITED_ACTIONS, actor_user_id=own_reader)
                rows = sorted(json.dumps(row, default=str, sort_keys=True) for row in queryset.values())
                state[model._meta.label] = "\n".join(rows)
    return state


def a_object_id(model, tenant) -> str | None:
    with tenant_context(tenant.id, role="system"):
        pk = model.objects.values_list("pk", flat=True).first()
    return str(pk) if pk is not None else None


def test_every_route_refuses_tenant_b_on_tenant_a_data():
    world = build_full_world()
    a_data, b_data = world.data["a"], world.data["b"]
    a_markers = markers(a_data) | {str(world.tenant_a.id), world.tenant_a.name}
    b_markers = markers(b_data)
    kwarg_values = _kwarg_values(a_data)
    foreign_bodies = _foreign_bodies(a_data)
    today = datetime.date.today()
    query = {
        "start": (today - datetime.timedelta(days=700)).isoformat(),
        "end": today.isoformat(),
        "interval": "month",
        "days_ahead": "366",
        "limit": "100",
    }
    before = snapshot(world.tenant_a, world.owner_a.id)
    problems: list[str] = []
    exercised = 0
    for route, pattern in api_patterns():
        name = pattern.name or route
        if name in EXEMPT:
            continue
        kwargs_names = list(pattern.pattern.regex.groupindex)
        kwargs = {}
        for kwarg in kwargs_names:
            if kwarg in ("pk", "id"):
                model = model_of(pattern)
                if model is None:
                    problems.append(
                        f"{name}: cannot tell which model {kwarg!r} refers to; add it to EXEMPT with a reason"
                    )
                    break
                object_id = a_object_id(model, world.tenant_a)
                if object_id is None:
                    problems.append(f"{name}: tenant A has no {model.__name__}; add one to <app>/tests/world.py")
                    break
                kwargs[kwarg] = object_id
            elif kwarg_values.get(kwarg):
                kwargs[kwarg] = kwarg_values[kwarg]
            elif kwarg == "format":
                kwargs[kwarg] = "json"
            else:
                problems.append(f"{name}: no value for URL argument {kwarg!r}; add it to _kwarg_values or EXEMPT")
                break
        if len(kwargs) != len(kwargs_names):
            continue
        url = reverse(name, kwargs=kwargs) if pattern.name else "/" + route
        for method in methods_of(pattern):
            client = world.b
            if kwargs and any(k in ("pk", "id") for k in kwargs):
                # An object of tenant A, addressed by tenant B: documented 404 (403 for a role).
                response = client.get(url) if method == "get" else getattr(client, method)(url, {}, format="json")
                exercised += 1
                if response.status_code not in (403, 404):
                    problems.append(f"{method.upper()} {url} ({name}) as B on A's object: {response.status_code}")
                leaked = {m for m in a_markers if m in body_text(response)}
                if leaked:
                    problems.append(f"{method.upper()} {url} ({name}) leaked A's values {sorted(leaked)}")
                # The route works for its owner: the walker used a real id.
                if method == "get":
                    own = world.a.get(url)
                    if own.status_code != 200:
                        problems.append(f"GET {url} ({name}) as A on A's own object: {own.status_code}")
            elif method == "get":
                response = client.get(url, query)
                exercised += 1
                body = body_text(response)
                if response.status_code >= 500:
                    problems.append(f"GET {url} ({name}) as B: {response.status_code}")
                leaked = {m for m in a_markers if m in body}
                if leaked:
                    problems.append(f"GET {url} ({name}) as B leaked A's values {sorted(leaked)}")
                model = model_of(pattern)
                if model is not None and response.status_code == 200 and issubclass(model, TenantModel):
                    own_id = a_object_id(model, world.tenant_b)
                    if own_id and own_id not in body and "results" in body:
                        problems.append(
                            f"GET {url} ({name}) as B does not show B's own {model.__name__}: the check is vacuous"
                        )
            else:
                if name not in foreign_bodies:
                    problems.append(
                        f"{method.upper()} {url} ({name}): the walker does not know a foreign body for it; "
                        f"add it to _foreign_bodies (or EXEMPT) with the statuses that are correct"
                    )
                    continue
                body, allowed = foreign_bodies[name]
                if body is None:
                    continue  # acts in B's own tenant only (see _foreign_bodies)
                response = getattr(client, method)(url, body, format="json")
                exercised += 1
                if response.status_code not in allowed:
                    problems.append(
                        f"{method.upper()} {url} ({name}) with A's ids: {response.status_code} {response.content[:300]!r}"
                    )
                leaked = {m for m in a_markers if m in body_text(response)}
                if leaked:
                    problems.append(f"{method.upper()} {url} ({name}) leaked A's values {sorted(leaked)}")
    print(f"\nroute walker: {exercised} calls as tenant B")
    assert exercised > 0
    assert snapshot(world.tenant_a, world.owner_a.id) == before, "tenant B's calls changed tenant A's data"
    assert not problems, "\n".join(problems)
    assert b_markers  # B's world exists too (sanity)
