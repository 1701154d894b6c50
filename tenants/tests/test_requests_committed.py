"""Requests as production serves them: no test transaction around them.

A test inside a transaction hides the one failure that matters here: a query that runs
after the request's transaction has ended (Django renders template responses, and streams
bodies, after the view's ATOMIC_REQUESTS block). These tests use the `committed` fixture,
so such a query meets the database exactly as it would under a real server: in autocommit.
The support admin once answered 500 after every login while its in-transaction tests passed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import pytest
from django.test import Client as HttpClient

from clients.tests.factories import ClientFactory
from conftest import make_tenant
from tenants import context
from tenants.auth.signin import EXPIRED_NOTICE_SECONDS
from tenants.context import tenant_context
from tenants.models import SupportAccess, User
from tenants.testing import admin_login, api_client, token_for

pytestmark = pytest.mark.usefixtures("committed")

PASSWORD = "correct horse battery staple"


def _salon(label: str):
    tenant, owner = make_tenant(f"Committed {label} {uuid.uuid4().hex[:6]}")
    with tenant_context(tenant.id, role="system"):
        clients = [ClientFactory(tenant=tenant, first_name=f"{label}-client-{i}") for i in range(3)]
    return tenant, owner, clients


@pytest.fixture
def support_client():
    user = User.objects.create(
        username=f"support-{uuid.uuid4().hex[:8]}", email="support@brandvx.test", is_staff=True, is_superuser=True
    )
    client = HttpClient()
    response = admin_login(client, user, password=PASSWORD)  # password and TOTP code, as staff sign in
    assert response.status_code == 302, response.content[:500]
    client.user = user
    return client


def _assert_page(response, *needles: str) -> str:
    assert response.status_code == 200, response.content[:2000]
    page = response.content.decode()
    for needle in needles:
        assert needle in page, needle
    return page


def test_support_admin_pages_answer_after_a_real_login(support_client):
    tenant, _owner, clients = _salon("admin")

    _assert_page(support_client.get("/admin/"), "BrandVX support")
    _assert_page(support_client.get("/admin/tenants/tenant/"), tenant.name)
    _assert_page(support_client.get("/admin/django_celery_beat/periodictask/"))
    _assert_page(support_client.get("/admin/clients/client/"), clients[0].first_name)
    assert context.current() is None


def test_entering_a_tenant_redirects_to_a_working_index_and_changes_are_audited(support_client):
    tenant, owner, clients = _salon("enter")
    reason = "Ticket 4711: the owner asked us to fix a name"

    entered = support_client.post(f"/admin/support/enter/{tenant.id}/", {"reason": reason}, follow=True)
    _assert_page(entered, f"acting inside {tenant.name}")

    target = clients[0]
    change_url = f"/admin/clients/client/{target.id}/change/"
    form = _assert_page(support_client.get(change_url))
    inline_management = {
        name: "0" if name.endswith(("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS")) else "1000"
        for name in re.findall(r'name="([\w-]+-(?:TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS)"', form)
    }
    changed = support_client.post(
        change_url,
        {
            "first_name": "Renamed",
            "last_name": target.last_name,
            "email": target.email,
            "phone": "",
            "notes": "",
            "source": target.source,
            "_save": "Save",
            **inline_management,
        },
    )
    assert changed.status_code == 302, changed.content[:3000]
    _assert_page(support_client.get("/admin/support/leave/", follow=True))

    with tenant_context(tenant.id, role="owner_admin"):
        target.refresh_from_db()
        actions = set(SupportAccess.objects.values_list("action", flat=True))
    assert target.first_name == "Renamed"
    assert {SupportAccess.Action.ENTER, SupportAccess.Action.VIEW, SupportAccess.Action.CHANGE} <= actions
    log = api_client(owner, tenant=tenant).get("/api/v1/audit-log/")
    assert log.status_code == 200
    assert any(row["reason"] == reason for row in log.json()["results"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/webhooks/square/",
        "/api/v1/webhooks/acuity/not-a-token/",
        "/api/v1/integrations/custom_crm/import/",
    ],
)
def test_a_bearer_token_on_non_tenant_endpoints_is_ignored_not_a_500(path):
    tenant, owner, _clients = _salon("webhook")
    response = HttpClient().post(
        path,
        json.dumps({"hello": "world"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_for(owner)}",
        HTTP_X_TENANT_ID=str(tenant.id),
    )
    # Each of these authenticates by its own means (a signature, a URL token, an API key):
    # the bearer token neither helps nor breaks it.
    assert response.status_code in (400, 401, 403), response.content[:500]
    assert response.status_code != 500
    assert "code" in response.json()
    assert context.current() is None


def test_the_streamed_export_reads_its_own_tenant_after_the_view_has_returned():
    tenant, owner, clients = _salon("export")
    other, _other_owner, other_clients = _salon("export-other")

    response = api_client(owner, tenant=tenant).get("/api/v1/clients/export/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    names = {row["first_name"] for row in csv.DictReader(io.StringIO(body))}
    assert names == {c.first_name for c in clients}
    assert not names & {c.first_name for c in other_clients}


def test_the_browsable_api_renders_its_page_inside_the_tenant_context():
    tenant, owner, clients = _salon("browsable")
    response = api_client(owner, tenant=tenant).get("/api/v1/clients/", HTTP_ACCEPT="text/html")
    page = _assert_page(response, clients[0].first_name)
    assert "<form" in page  # the create form was rendered (its fields read the database)
    assert context.current() is None


def test_a_tenant_request_leaves_no_context_and_no_open_transaction_behind():
    from django.db import connection

    tenant, owner, _clients = _salon("after")
    response = api_client(owner, tenant=tenant).get("/api/v1/me/")
    assert response.status_code == 200 and response.json()["tenant"]["id"] == str(tenant.id)
    assert context.current() is None
    assert connection.get_autocommit() and not connection.in_atomic_block


# --- the browser sign-in, replayed as a browser does it (issue 24) -----------------------------

SIGN_IN = "/api-auth/login/"
SIGN_OUT = "/api-auth/logout/"


def _form_token(client: HttpClient, url: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(url).content.decode())
    assert found is not None, f"{url} has no CSRF token"
    return found.group(1)


def _hs256(owner: User, *, iat: int, exp: int) -> str:
    import jwt
    from django.conf import settings

    claims = {"sub": str(owner.id), "aud": "authenticated", "role": "authenticated", "iat": iat, "exp": exp}
    return jwt.encode(claims, str(settings.SUPABASE_JWT_SECRET), algorithm="HS256")


def test_a_browser_sign_in_ends_at_the_tokens_maximum_age_even_with_the_cookie_kept(settings):
    """The red team's replay: a token issued 23h59m ago that `exp`ires in a year gave a session
    cookie of a year, still answering after the same token as a bearer was `token_too_old`."""
    import time

    import time_machine

    _tenant, owner, _clients = _salon("MaxAge")
    now = int(time.time())
    max_age = settings.SUPABASE_JWT_MAX_AGE_SECONDS
    token = _hs256(owner, iat=now - max_age + 60, exp=now + 365 * 86400)
    browser = HttpClient(enforce_csrf_checks=True)
    signed_in = browser.post(SIGN_IN, {"token": token, "csrfmiddlewaretoken": _form_token(browser, SIGN_IN)})
    assert signed_in.status_code == 302, signed_in.content[:500]
    # The cookie dies with the token's age limit (60 s left), not with its exp a year away: it
    # outlives the sign-in only by the notice that says the sign-in expired.
    assert 0 < int(signed_in.cookies["sessionid"]["max-age"]) - EXPIRED_NOTICE_SECONDS <= 61
    assert browser.get("/api/v1/me/").status_code == 200
    with time_machine.travel(now + 62, tick=False):
        bearer = api_client()
        bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        too_old = bearer.get("/api/v1/me/")
        assert too_old.status_code == 401 and too_old.json()["code"] == "token_too_old"
        # The same browser, its cookie kept (the test client never drops one): no answer either.
        kept = browser.get("/api/v1/me/")
        assert kept.status_code == 401, kept.content[:500]
        assert browser.get("/api/v1/clients/").status_code == 401


def test_a_browser_sign_in_ends_at_the_tokens_exp_when_that_comes_first(settings):
    import time

    import time_machine

    _tenant, owner, _clients = _salon("Exp")
    now = int(time.time())
    token = _hs256(owner, iat=now - 10, exp=now + 120)
    browser = HttpClient(enforce_csrf_checks=True)
    signed_in = browser.post(SIGN_IN, {"token": token, "csrfmiddlewaretoken": _form_token(browser, SIGN_IN)})
    max_age = int(signed_in.cookies["sessionid"]["max-age"]) - EXPIRED_NOTICE_SECONDS
    assert signed_in.status_code == 302 and 0 < max_age <= 121
    with time_machine.travel(now + 119, tick=False):
        assert browser.get("/api/v1/me/").status_code == 200
    with time_machine.travel(now + 121, tick=False):
        assert browser.get("/api/v1/me/").status_code == 401


def test_sign_in_and_sign_out_rotate_the_csrf_token():
    """A `csrftoken` cookie planted before the victim signs in (from a sibling subdomain, say)
    still passed the CSRF check after the sign-in: the attacker knew the token."""
    _tenant, owner, _clients = _salon("Csrf")
    browser = HttpClient(enforce_csrf_checks=True)
    planted = "Plant3dCsrfSecretKnownToAttacker"  # 32 characters: a well-formed CSRF secret
    browser.cookies["csrftoken"] = planted
    response = browser.post(
        SIGN_IN,
        {"token": token_for(owner), "csrfmiddlewaretoken": _form_token(browser, SIGN_IN), "next": "/api/v1/me/"},
    )
    assert response.status_code == 302, response.content[:500]
    rotated = browser.cookies["csrftoken"].value
    assert rotated != planted
    body = {"first_name": "Forged", "last_name": "Request"}
    forged = browser.post("/api/v1/clients/", body, content_type="application/json", HTTP_X_CSRFTOKEN=planted)
    assert forged.status_code == 403 and forged.json()["detail"].startswith("CSRF Failed"), forged.content
    mine = browser.post("/api/v1/clients/", body, content_type="application/json", HTTP_X_CSRFTOKEN=rotated)
    assert mine.status_code == 201, mine.content
    # Signing out rotates it again: a token read while signed in is worth nothing afterwards.
    signed_out = browser.post(SIGN_OUT, {"csrfmiddlewaretoken": _form_token(browser, SIGN_OUT)})
    assert signed_out.status_code == 302
    assert browser.cookies["csrftoken"].value not in (rotated, planted)
