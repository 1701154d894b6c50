"""The JWT matrix and tenant selection: every case a documented status, never a 500."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from rest_framework.test import APIClient

from conftest import TenantWorld
from tenants.auth import supabase
from tenants.testing import api_client, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_failure_limit():
    """The bad-token matrix sends many 401s from one address: each test starts below the
    failure limit (tested in test_security), or a later case would read 429."""
    from django.core.cache import cache

    cache.delete("auth-failures:127.0.0.1")
    yield


def claims_for(user_id, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "aud": "authenticated",
        "role": "authenticated",
        "iat": now,
        "exp": now + 600,
        "email": "someone@example.com",
        "app_metadata": {},
        "user_metadata": {},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def hs256(claims: dict, secret: str | None = None) -> str:
    return jwt.encode(claims, secret or cast(str, settings.SUPABASE_JWT_SECRET), algorithm="HS256")


def call_me(token: str | None = None, *, header: str | None = None, tenant: str | None = None):
    client = APIClient()
    extra: dict[str, Any] = {}
    if header is not None:
        extra["HTTP_AUTHORIZATION"] = header
    elif token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if tenant is not None:
        extra["HTTP_X_TENANT_ID"] = tenant
    return client.get("/api/v1/me/", **extra)


class JWKSServer:
    """Serves a JWKS document on loopback, like Supabase's /.well-known/jwks.json."""

    def __init__(self, keys: list[dict]):
        body = json.dumps({"keys": keys}).encode()
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/auth/v1/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks(settings, ec_key, rsa_key):
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk.update(kid="ec-key-1", alg="ES256", use="sig")
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update(kid="rsa-key-1", alg="RS256", use="sig")
    with JWKSServer([ec_jwk, rsa_jwk]) as server:
        settings.SUPABASE_JWKS_URL = server.url
        supabase._jwks_clients.clear()
        yield server
    supabase._jwks_clients.clear()


def test_valid_hs256_token_is_accepted_and_links_a_user():
    world = TenantWorld()
    response = call_me(token_for(world.owner_a))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["id"] == str(world.owner_a.id)
    assert body["tenant"]["id"] == str(world.tenant_a.id) and body["role"] == "owner_admin"


def test_first_token_for_a_new_sub_creates_the_user_without_memberships():
    sub = uuid.uuid4()
    response = call_me(hs256(claims_for(sub)))
    assert response.status_code == 200
    assert response.json() == {
        "id": str(sub),
        "email": "someone@example.com",
        "tenant": None,
        "role": None,
        "memberships": [],
    }


def test_valid_es256_and_rs256_tokens_via_jwks(jwks, ec_key, rsa_key):
    world = TenantWorld()
    es = jwt.encode(claims_for(world.owner_a.id), ec_key, algorithm="ES256", headers={"kid": "ec-key-1"})
    rs = jwt.encode(claims_for(world.owner_a.id), rsa_key, algorithm="RS256", headers={"kid": "rsa-key-1"})
    assert call_me(es).status_code == 200
    assert call_me(rs).status_code == 200
    assert call_me(es).status_code == 200
    assert jwks.hits == 1, "the JWKS must be cached"


def test_unknown_kid_is_401(jwks, ec_key):
    token = jwt.encode(claims_for(uuid.uuid4()), ec_key, algorithm="ES256", headers={"kid": "rotated-away"})
    response = call_me(token)
    assert response.status_code == 401 and response.json()["code"] == "unknown_key"


def _public_pem(ec_key) -> bytes:
    return ec_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(
    "case, expected_code",
    [
        ("expired", "token_expired"),
        ("wrong_audience", "invalid_audience"),
        ("wrong_signature", "invalid_signature"),
        ("alg_none", "unsupported_algorithm"),
        ("hs256_with_public_key", "invalid_signature"),
        ("no_sub", "no_subject"),
        ("sub_not_uuid", "invalid_subject"),
        ("no_exp", "invalid_token"),
        ("garbage", "malformed_token"),
        ("empty_bearer", "malformed_token"),
        ("service_role_key", "not_a_user_token"),
        ("anon_key", "not_a_user_token"),
        ("anon_role_with_a_subject", "not_a_user_token"),
        ("no_iat", "no_issued_at"),
        ("issued_too_long_ago", "token_too_old"),
    ],
)
def test_bad_tokens_are_401_with_a_code(case, expected_code, ec_key, jwks):
    sub = uuid.uuid4()
    now = int(time.time())
    header = None
    if case == "expired":
        token = hs256(claims_for(sub, exp=now - 10, iat=now - 700))
    elif case == "wrong_audience":
        token = hs256(claims_for(sub, aud="anon"))
    elif case == "wrong_signature":
        token = hs256(claims_for(sub), secret="not-the-secret-of-this-project-at-all")
    elif case == "alg_none":
        token = jwt.encode(claims_for(sub), None, algorithm="none")
    elif case == "hs256_with_public_key":
        # Algorithm confusion: HMAC keyed with the (public) JWKS key. PyJWT refuses to do this
        # itself, so the token is assembled by hand.
        import base64
        import hashlib
        import hmac

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        signing_input = (
            b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "ec-key-1"}).encode())
            + "."
            + b64(json.dumps(claims_for(sub)).encode())
        )
        signature = hmac.new(_public_pem(ec_key), signing_input.encode(), hashlib.sha256).digest()
        token = signing_input + "." + b64(signature)
    elif case == "no_sub":
        token = hs256(claims_for(sub, sub=None))
    elif case == "sub_not_uuid":
        token = hs256(claims_for(sub, sub="user-42"))
    elif case == "no_exp":
        token = hs256(claims_for(sub, exp=None))
    elif case == "garbage":
        token = "this.is-not.a-jwt"
    elif case == "empty_bearer":
        token, header = None, "Bearer "
    elif case == "service_role_key":
        token = hs256({"iss": "supabase", "role": "service_role", "iat": now, "exp": now + 600, "aud": "authenticated"})
    elif case == "anon_key":
        token = hs256({"iss": "supabase", "role": "anon", "iat": now, "exp": now + 600, "aud": "authenticated"})
    elif case == "anon_role_with_a_subject":
        token = hs256(claims_for(sub, role="anon"))
    elif case == "no_iat":
        token = hs256(claims_for(sub, iat=None))
    elif case == "issued_too_long_ago":
        # Still unexpired: the signer chose a long lifetime. The maximum age refuses it anyway.
        token = hs256(claims_for(sub, iat=now - settings.SUPABASE_JWT_MAX_AGE_SECONDS - 60, exp=now + 3600))
    response = call_me(token, header=header)
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["code"] == expected_code, body
    assert response["WWW-Authenticate"].startswith("Bearer")
    # No refused token ever links a user.
    from tenants.models import User

    assert not User.objects.filter(id=sub).exists()


def test_issuer_is_checked_when_configured(settings):
    settings.SUPABASE_JWT_ISSUER = "https://project.supabase.co/auth/v1"
    sub = uuid.uuid4()
    assert call_me(hs256(claims_for(sub, iss="https://other.supabase.co/auth/v1"))).json()["code"] == "invalid_issuer"
    assert call_me(hs256(claims_for(sub, iss="https://project.supabase.co/auth/v1"))).status_code == 200


def test_issuer_missing_from_the_token_is_refused_when_configured(settings):
    settings.SUPABASE_JWT_ISSUER = "https://project.supabase.co/auth/v1"
    response = call_me(hs256(claims_for(uuid.uuid4())))
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


def test_with_only_asymmetric_keys_hs256_is_refused_entirely(settings, jwks, ec_key):
    """SUPABASE_JWKS_URL without SUPABASE_JWT_SECRET: the settings leave no HS256 secret, and a
    token signed with the (public) development secret is refused, not verified."""
    world = TenantWorld()
    development_secret = settings.SUPABASE_JWT_SECRET
    settings.SUPABASE_JWT_SECRET = None
    response = call_me(hs256(claims_for(world.owner_a.id), secret=development_secret))
    assert response.status_code == 401 and response.json()["code"] == "unsupported_algorithm"
    es = jwt.encode(claims_for(world.owner_a.id), ec_key, algorithm="ES256", headers={"kid": "ec-key-1"})
    assert call_me(es).status_code == 200


def test_missing_header_is_401():
    response = call_me()
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_tenant_selection_rules():
    world = TenantWorld()
    # header tenant the user is not a member of: 403
    response = call_me(token_for(world.owner_a), tenant=str(world.tenant_b.id))
    assert response.status_code == 403 and response.json()["code"] == "not_a_member"
    # malformed tenant id: 400
    response = call_me(token_for(world.owner_a), tenant="tenant-b")
    assert response.status_code == 400 and response.json()["code"] == "invalid_tenant_id"
    # app_metadata.tenant_id claim selects the tenant; the claim is checked against memberships
    token = hs256(claims_for(world.owner_a.id, app_metadata={"tenant_id": str(world.tenant_b.id)}))
    assert call_me(token).status_code == 403
    token = hs256(claims_for(world.owner_a.id, app_metadata={"tenant_id": str(world.tenant_a.id)}))
    assert call_me(token).json()["tenant"]["id"] == str(world.tenant_a.id)
    # user_metadata is never used for authorization
    token = hs256(
        claims_for(world.owner_a.id, user_metadata={"tenant_id": str(world.tenant_b.id), "role": "owner_admin"})
    )
    assert call_me(token).json()["tenant"]["id"] == str(world.tenant_a.id)


def test_several_memberships_need_a_choice():
    world = TenantWorld()
    from tenants.testing import add_member

    add_member(tenant=world.tenant_b, role="viewer", user=world.owner_a)
    # /me answers with the memberships and no current tenant...
    body = call_me(token_for(world.owner_a)).json()
    assert body["tenant"] is None and len(body["memberships"]) == 2
    # ...tenant endpoints answer 400 with the choices.
    response = APIClient().get("/api/v1/jobs/", HTTP_AUTHORIZATION=f"Bearer {token_for(world.owner_a)}")
    assert response.status_code == 400
    assert response.json()["code"] == "tenant_required"
    assert {c["id"] for c in response.json()["choices"]} == {str(world.tenant_a.id), str(world.tenant_b.id)}
    # the header picks one, with that membership's role
    body = call_me(token_for(world.owner_a), tenant=str(world.tenant_b.id)).json()
    assert body["tenant"]["id"] == str(world.tenant_b.id) and body["role"] == "viewer"


def test_inactive_membership_is_forbidden():
    world = TenantWorld()
    from tenants.services import membership_add

    membership = membership_add(tenant=world.tenant_a, user=world.staff_a, role="staff")
    from tenants.context import tenant_context

    with tenant_context(world.tenant_a.id, role="system"):
        type(membership).objects.filter(id=membership.id).update(is_active=False)
    response = api_client(world.staff_a, tenant=world.tenant_a).get("/api/v1/me/")
    assert response.status_code == 403


def test_a_django_login_session_does_not_reach_the_api():
    # Only the sign-in page's sessions authenticate (tenants/tests/test_signin.py); a Django
    # login, even of a member, is the admin's password session and is refused.
    world = TenantWorld()
    client = APIClient()
    client.force_login(world.owner_a)
    response = client.get("/api/v1/me/")
    assert response.status_code == 403 and response.json()["code"] == "password_session_refused"


# --- JWKS keys that do not fit the token's algorithm (issue 24): 401, counted, never a 500 ---


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict, claims: dict) -> str:
    """A token with any header and a signature of the right shape that verifies nothing."""
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{_b64(b'x' * 64)}"


@pytest.fixture
def mixed_jwks(settings, ec_key, rsa_key):
    """A key set with what Supabase could publish beside its signing keys, each under a kid."""
    p384 = ec.generate_private_key(ec.SECP384R1())
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk.update(kid="ec-key-1", alg="ES256", use="sig")
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update(kid="rsa-key-1", alg="RS256", use="sig")
    p384_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(p384.public_key()))
    p384_jwk.update(kid="p384-key", use="sig")
    oct_jwk = {"kty": "oct", "kid": "oct-key", "k": _b64(b"a-shared-secret-of-thirty-two-by"), "alg": "HS256"}
    oct_no_alg = {"kty": "oct", "kid": "oct-no-alg", "k": _b64(b"another-shared-secret-32-bytes!!")}
    keys = [ec_jwk, rsa_jwk, p384_jwk, oct_jwk, oct_no_alg]
    with JWKSServer(keys) as server:
        settings.SUPABASE_JWKS_URL = server.url
        supabase._jwks_clients.clear()
        yield {"p384": p384}
    supabase._jwks_clients.clear()


def _mismatched_tokens(ec_key, rsa_key, p384) -> dict[str, str]:
    claims = claims_for(uuid.uuid4())
    return {
        # Signed for real with the header's algorithm, but naming another type's kid.
        "RS256 header, EC key's kid": jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "ec-key-1"}),
        "ES256 header, RSA key's kid": jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "rsa-key-1"}),
        "RS256 header, an oct key's kid": _unsigned({"alg": "RS256", "typ": "JWT", "kid": "oct-key"}, claims),
        "ES256 header, an oct key without alg": _unsigned({"alg": "ES256", "typ": "JWT", "kid": "oct-no-alg"}, claims),
        "ES256 header, the P-384 key's kid": _unsigned({"alg": "ES256", "typ": "JWT", "kid": "p384-key"}, claims),
        "ES384 token from the P-384 key": jwt.encode(claims, p384, algorithm="ES384", headers={"kid": "p384-key"}),
        "RS256 header, the P-384 key's kid": _unsigned({"alg": "RS256", "typ": "JWT", "kid": "p384-key"}, claims),
    }


def test_every_jwks_key_and_algorithm_mismatch_is_a_401(mixed_jwks, ec_key, rsa_key):
    for case, token in _mismatched_tokens(ec_key, rsa_key, mixed_jwks["p384"]).items():
        from django.core.cache import cache

        cache.delete("auth-failures:127.0.0.1")
        response = call_me(token)
        assert response.status_code == 401, (case, response.content)
        assert response.json()["code"] in (
            "key_mismatch",
            "invalid_signature",
            "unknown_key",
            "unsupported_algorithm",
        ), (
            case,
            response.json(),
        )
    # The well-formed tokens of the same set still pass.
    good = jwt.encode(claims_for(uuid.uuid4()), ec_key, algorithm="ES256", headers={"kid": "ec-key-1"})
    assert call_me(good).status_code == 200


def test_jwks_mismatches_count_in_the_failure_limit(settings, mixed_jwks, ec_key, rsa_key):
    settings.AUTH_FAILURE_LIMIT = 3
    tokens = list(_mismatched_tokens(ec_key, rsa_key, mixed_jwks["p384"]).values())
    codes = [call_me(token).status_code for token in tokens[:5]]
    assert codes == [401, 401, 401, 429, 429], codes


def test_a_key_set_with_no_usable_key_is_a_401(settings, ec_key):
    unusable = [{"kty": "OKP", "crv": "X25519", "kid": "x", "x": _b64(b"k" * 32)}, {"kty": "nonsense", "kid": "y"}]
    with JWKSServer(unusable) as server:
        settings.SUPABASE_JWKS_URL = server.url
        supabase._jwks_clients.clear()
        token = jwt.encode(claims_for(uuid.uuid4()), ec_key, algorithm="ES256", headers={"kid": "x"})
        response = call_me(token)
    supabase._jwks_clients.clear()
    assert response.status_code == 401, response.content
