"""The browsable API's sign-in: a Supabase token exchanged for a session that dies with it.

Also: only those sessions reach the API (a Django admin login never does), and CSRF is
enforced on every unsafe method of a session-authenticated call.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import cast

import jwt
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client

from conftest import TenantWorld
from tenants.auth import signin
from tenants.models import User
from tenants.services import tenant_create
from tenants.testing import add_member, admin_login, token_for

pytestmark = pytest.mark.django_db

LOGIN = "/api-auth/login/"
LOGOUT = "/api-auth/logout/"
PICKER = "/api-auth/tenant/"


def _token(user: User, *, exp: int, tenant=None, secret: str | None = None) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user.id),
        "aud": django_settings.SUPABASE_JWT_AUDIENCE,
        "role": "authenticated",
        "iat": now - 10,
        "exp": exp,
        "email": user.email,
        "app_metadata": {"tenant_id": str(tenant.id)} if tenant else {},
    }
    return jwt.encode(claims, secret or cast(str, django_settings.SUPABASE_JWT_SECRET), algorithm="HS256")


def _csrf(client: Client, url: str = LOGIN) -> str:
    page = client.get(url)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: Client, token: str, *, next_url: str = "/api/v1/me/"):
    return client.post(LOGIN, {"token": token, "next": next_url, "csrfmiddlewaretoken": _csrf(client)})


def test_sign_in_with_a_valid_token_authenticates_the_api():
    world = TenantWorld()
    client = Client(enforce_csrf_checks=True)
    assert client.get("/api/v1/me/").status_code == 401
    token = token_for(world.owner_a)
    response = sign_in(client, f"Bearer {token}", next_url="/api/v1/clients/")
    assert response.status_code == 302 and response["Location"] == "/api/v1/clients/"

    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["id"] == str(world.owner_a.id) and me.json()["tenant"]["id"] == str(world.tenant_a.id)
    # The session keeps who and until when, never the token; the cookie outlives the token
    # only long enough to say that the sign-in expired.
    session = client.session
    assert token not in str(dict(session.items()))
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert session[signin.SESSION_KEY]["exp"] == exp
    assert abs(session.get_expiry_date().timestamp() - (exp + signin.EXPIRED_NOTICE_SECONDS)) < 2


def test_the_browsable_api_links_to_the_sign_in_page_and_shows_the_tenant():
    world = TenantWorld()
    client = Client()
    anonymous = client.get("/api/v1/clients/", HTTP_ACCEPT="text/html")
    assert (
        anonymous.status_code == 401 and "href='/api-auth/login/?next=/api/v1/clients/'" in anonymous.content.decode()
    )
    sign_in(client, token_for(world.owner_a))
    page = client.get("/api/v1/me/", HTTP_ACCEPT="text/html").content.decode()
    assert "Salon A (owner_admin)" in page and world.owner_a.email in page
    assert 'action="/api-auth/logout/?next=/api/v1/me/"' in page


@pytest.mark.parametrize(
    ("make_token", "status", "code"),
    [
        (lambda user: "not-a-jwt", 401, "malformed_token"),
        (lambda user: "", 401, "missing_token"),
        (lambda user: _token(user, exp=int(time.time()) - 3600), 401, "token_expired"),
        (
            lambda user: _token(user, exp=int(time.time()) + 600, secret="another-secret-of-enough-length-0123"),
            401,
            "invalid_signature",
        ),
    ],
)
def test_sign_in_refuses_bad_tokens_with_a_form_error(make_token, status, code):
    world = TenantWorld()
    cache.delete("auth-failures:198.51.100.20")
    client = Client(REMOTE_ADDR="198.51.100.20")
    response = sign_in(client, make_token(world.owner_a))
    assert response.status_code == status
    page = response.content.decode()
    assert f'data-code="{code}"' in page and 'id="signin-form"' in page
    assert signin.SESSION_KEY not in client.session
    assert client.get("/api/v1/me/").status_code == 401
    cache.delete("auth-failures:198.51.100.20")


def test_failed_sign_ins_count_in_the_auth_failure_limiter(settings):
    settings.AUTH_FAILURE_LIMIT = 2
    cache.delete("auth-failures:198.51.100.21")
    client = Client(REMOTE_ADDR="198.51.100.21")
    codes = [sign_in(client, "nonsense").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    cache.delete("auth-failures:198.51.100.21")


def test_a_token_naming_a_foreign_tenant_is_refused():
    world = TenantWorld()
    response = sign_in(Client(), _token(world.owner_a, exp=int(time.time()) + 600, tenant=world.tenant_b))
    assert response.status_code == 403 and 'data-code="not_a_member"' in response.content.decode()


def test_the_session_stops_authenticating_when_the_token_expires(monkeypatch):
    world = TenantWorld()
    client = Client()
    exp = int(time.time()) + 120
    assert sign_in(client, _token(world.owner_a, exp=exp)).status_code == 302
    assert client.get("/api/v1/clients/").status_code == 200

    monkeypatch.setattr(signin.time, "time", lambda: exp)  # the token's last second has passed
    expired = client.get("/api/v1/clients/")
    assert expired.status_code == 401 and expired.json()["code"] == "session_expired"
    assert signin.SESSION_KEY not in client.session
    again = client.get("/api/v1/me/")
    assert again.status_code == 401 and again.json()["code"] == "not_authenticated"


def test_tenant_picker_for_a_user_with_several_memberships():
    world = TenantWorld()
    add_member(tenant=world.tenant_b, role="viewer", user=world.staff_a)
    other = tenant_create(name="Salon C", owner_sub=uuid.uuid4(), timezone="UTC")
    client = Client()

    response = sign_in(client, token_for(world.staff_a), next_url="/api/v1/clients/")
    assert response.status_code == 302 and response["Location"] == f"{PICKER}?next=%2Fapi%2Fv1%2Fclients%2F"
    undecided = client.get("/api/v1/clients/")
    assert undecided.status_code == 400 and undecided.json()["code"] == "tenant_required"
    page = client.get(response["Location"]).content.decode()
    assert "Salon A" in page and "Salon B" in page and "Salon C" not in page

    # Not one of theirs: refused, nothing chosen.
    refused = client.post(PICKER, {"tenant_id": str(other.id), "next": "/api/v1/clients/"})
    assert refused.status_code == 403 and client.session[signin.SESSION_KEY]["tenant_id"] is None

    chosen = client.post(PICKER, {"tenant_id": str(world.tenant_b.id), "next": "/api/v1/clients/"})
    assert chosen.status_code == 302 and chosen["Location"] == "/api/v1/clients/"
    me = client.get("/api/v1/me/").json()
    assert me["tenant"]["id"] == str(world.tenant_b.id) and me["role"] == "viewer"
    # X-Tenant-ID still chooses per request, under the same membership rules.
    header = client.get("/api/v1/me/", HTTP_X_TENANT_ID=str(world.tenant_a.id)).json()
    assert header["tenant"]["id"] == str(world.tenant_a.id) and header["role"] == "staff"
    foreign = client.get("/api/v1/me/", HTTP_X_TENANT_ID=str(other.id))
    assert foreign.status_code == 403 and foreign.json()["code"] == "not_a_member"
    # A viewer in B may not write there: the session has B's role, not A's.
    assert client.post("/api/v1/clients/", {"first_name": "Ana"}, content_type="application/json").status_code == 403


def test_sign_out_clears_the_sign_in():
    world = TenantWorld()
    client = Client(enforce_csrf_checks=True)
    sign_in(client, token_for(world.owner_a))
    assert client.get("/api/v1/me/").status_code == 200
    assert client.get(LOGOUT).status_code == 200  # a confirmation page; GET changes nothing
    assert client.get("/api/v1/me/").status_code == 200
    response = client.post(LOGOUT, {"next": "/api/v1/me/", "csrfmiddlewaretoken": _csrf(client, LOGOUT)})
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert signin.SESSION_KEY not in client.session
    assert client.get("/api/v1/me/").status_code == 401


def test_unsafe_methods_need_the_csrf_token_on_a_signed_in_session():
    world = TenantWorld()
    client = Client(enforce_csrf_checks=True)
    sign_in(client, token_for(world.owner_a))
    body = {"first_name": "Ana", "last_name": "Lima"}
    refused = client.post("/api/v1/clients/", body, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["detail"].startswith("CSRF Failed")
    token = client.cookies["csrftoken"].value
    created = client.post("/api/v1/clients/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201, created.content
    client_id = created.json()["id"]
    for method in ("patch", "put", "delete"):
        response = getattr(client, method)(f"/api/v1/clients/{client_id}/", body, content_type="application/json")
        assert response.status_code == 403, method
    # The sign-in form itself is CSRF-protected (no login CSRF).
    assert Client(enforce_csrf_checks=True).post(LOGIN, {"token": token_for(world.owner_a)}).status_code == 403


def test_a_bearer_token_needs_no_csrf_token():
    world = TenantWorld()
    from tenants.testing import api_client

    client = api_client(world.owner_a)
    client.enforce_csrf_checks = True
    assert client.post("/api/v1/clients/", {"first_name": "Ana"}, format="json").status_code == 201


def test_an_admin_password_session_never_reaches_the_api():
    world = TenantWorld()
    staff = User.objects.create(username="support-x", email="x@brandvx.test", is_staff=True, is_superuser=True)
    # Even a staff user who is also a member of a tenant: the password session is the admin's.
    add_member(tenant=world.tenant_a, role="owner_admin", user=staff)
    client = Client()
    assert admin_login(client, staff).status_code == 302  # password and TOTP code, as staff sign in
    assert client.get("/admin/").status_code == 200  # the admin session is real
    for path in ("/api/v1/me/", "/api/v1/clients/", "/api/v1/audit-log/"):
        response = client.get(path)
        assert response.status_code == 403 and response.json()["code"] == "password_session_refused", path
    refused = client.post("/api/v1/clients/", {"first_name": "Ana"}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "password_session_refused"
    # The public documentation still opens in the same browser.
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
    # Signing in with a token in that browser acts as the token's user, never as the staff.
    sign_in(client, token_for(world.owner_b))
    assert client.get("/api/v1/me/").json()["id"] == str(world.owner_b.id)


def test_a_token_sign_in_does_not_open_the_admin():
    world = TenantWorld()
    client = Client()
    sign_in(client, token_for(world.owner_a))
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_demo_sign_in_only_with_debug(settings):
    from tenants.management.commands.seed_demo import DEMO_OWNER_SUB

    tenant = tenant_create(
        name="Demo Salon", owner_sub=DEMO_OWNER_SUB, owner_email="owner@demo-salon.test", timezone="UTC"
    )
    client = Client()
    assert 'id="demo-signin"' not in client.get(LOGIN).content.decode()
    refused = client.post(LOGIN, {"demo": "1"})
    assert refused.status_code == 404 and 'data-code="demo_unavailable"' in refused.content.decode()

    settings.DEBUG = True
    assert 'id="demo-signin"' in client.get(LOGIN).content.decode()
    assert client.post(LOGIN, {"demo": "1", "next": "/api/v1/me/"}).status_code == 302
    me = client.get("/api/v1/me/").json()
    assert me["id"] == str(DEMO_OWNER_SUB) and me["tenant"]["id"] == str(tenant.id)


def test_next_must_stay_on_this_site():
    world = TenantWorld()
    response = sign_in(Client(), token_for(world.owner_a), next_url="https://evil.example/steal")
    assert response.status_code == 302 and response["Location"] == "/api/v1/me/"
