"""Verification of Supabase access tokens, on top of simplejwt's TokenBackend.

HS256 tokens are checked with SUPABASE_JWT_SECRET; ES256 / RS256 tokens with the key from
SUPABASE_JWKS_URL whose `kid` the header names (cached). The algorithm is taken from a fixed
allow-list per key source, never trusted from the token: `alg: none` fails, and an HS256
token "signed" with a public key fails because HS256 is only ever checked with the secret.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from rest_framework import status
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken

from common.http_errors import HttpError

ASYMMETRIC_ALGORITHMS = ("ES256", "RS256")


class TokenInvalid(HttpError):
    status_code = status.HTTP_401_UNAUTHORIZED
    code = "invalid_token"
    default_detail = "The access token is invalid."


@dataclass(frozen=True)
class VerifiedToken:
    user_id: uuid.UUID
    email: str
    claims: dict[str, Any]

    @property
    def tenant_claim(self) -> str | None:
        # app_metadata is writable only with Supabase's service role; user_metadata is not
        # trusted for anything.
        app_metadata = self.claims.get("app_metadata") or {}
        value = app_metadata.get("tenant_id") if isinstance(app_metadata, dict) else None
        return str(value) if value else None


_jwks_lock = threading.Lock()
_jwks_clients: dict[str, jwt.PyJWKClient] = {}


def _jwks_client(url: str) -> jwt.PyJWKClient:
    with _jwks_lock:
        client = _jwks_clients.get(url)
        if client is None:
            client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=settings.SUPABASE_JWKS_CACHE_SECONDS, timeout=5)
            _jwks_clients[url] = client
        return client


def _backend(algorithm: str) -> TokenBackend:
    audience: str | None = settings.SUPABASE_JWT_AUDIENCE
    issuer: str | None = settings.SUPABASE_JWT_ISSUER
    leeway: int = settings.SUPABASE_JWT_LEEWAY_SECONDS
    if algorithm == "HS256":
        # Set: verify_token sends HS256 tokens here only when it is (None: HS256 is off).
        secret: str | None = settings.SUPABASE_JWT_SECRET
        return TokenBackend("HS256", signing_key=secret, audience=audience, issuer=issuer, leeway=leeway)
    backend = TokenBackend(algorithm, audience=audience, issuer=issuer, leeway=leeway)
    # verify_token sends asymmetric tokens here only when SUPABASE_JWKS_URL is set.
    backend.jwks_client = _jwks_client(str(settings.SUPABASE_JWKS_URL))
    return backend


_REASONS = {
    jwt.InvalidAudienceError: ("invalid_audience", "The token's audience is not accepted."),
    jwt.InvalidIssuerError: ("invalid_issuer", "The token's issuer is not accepted."),
    jwt.InvalidSignatureError: ("invalid_signature", "The token's signature does not verify."),
    jwt.ImmatureSignatureError: ("token_not_yet_valid", "The token is not valid yet."),
}


# A page load sends the same token with each of its requests, and checking a signature costs
# more than the rest of a request's authentication (0.2 ms of about 1.5). A token that passed
# is therefore remembered, by its exact text, for at most REMEMBER_SECONDS and only with the
# settings it was checked under; its expiry and age are checked again on every request.
# Failures are never remembered (the failed-authentication limiter counts each one). The
# keys of SUPABASE_JWKS_URL are cached for SUPABASE_JWKS_CACHE_SECONDS (600 s) already, so a
# removed key is honoured no longer than it was before.
REMEMBER_SECONDS = 300


def verify_token(raw: str) -> VerifiedToken:
    settings_key = (
        settings.SUPABASE_JWT_SECRET,
        settings.SUPABASE_JWKS_URL,
        settings.SUPABASE_JWT_AUDIENCE,
        settings.SUPABASE_JWT_ISSUER,
        settings.SUPABASE_JWT_LEEWAY_SECONDS,
    )
    token = _verified(raw, settings_key, int(time.monotonic() // REMEMBER_SECONDS))
    expires_at = token.claims["exp"]
    if time.time() > expires_at + settings.SUPABASE_JWT_LEEWAY_SECONDS:
        raise TokenInvalid("The access token has expired.", code="token_expired")
    _check_age(token.claims)
    return token


@functools.lru_cache(maxsize=4096)
def _verified(raw: str, settings_key: tuple[Any, ...], period: int) -> VerifiedToken:
    """_verify's answer for `raw` under `settings_key`, in this period (see REMEMBER_SECONDS)."""
    return _verify(raw)


def _verify(raw: str) -> VerifiedToken:
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.PyJWTError:
        raise TokenInvalid("The access token is not a well-formed JWT.", code="malformed_token") from None
    algorithm = header.get("alg")
    if algorithm == "HS256" and settings.SUPABASE_JWT_SECRET:
        pass
    elif algorithm in ASYMMETRIC_ALGORITHMS and settings.SUPABASE_JWKS_URL:
        if not header.get("kid"):
            raise TokenInvalid("The token names no key (kid).", code="unknown_key")
    else:
        raise TokenInvalid(f"Tokens signed with {algorithm!r} are not accepted.", code="unsupported_algorithm")

    try:
        # simplejwt's stub says Token; the backend decodes the encoded string it is given.
        claims = _backend(algorithm).decode(raw, verify=True)  # type: ignore[arg-type]
    except TokenBackendExpiredToken:
        raise TokenInvalid("The access token has expired.", code="token_expired") from None
    except TokenBackendError as exc:
        cause = exc.__cause__
        for error_type, (code, message) in _REASONS.items():
            if isinstance(cause, error_type):
                raise TokenInvalid(message, code=code) from None
        if isinstance(cause, jwt.PyJWKClientError):
            raise TokenInvalid("The token's signing key is unknown.", code="unknown_key") from None
        raise TokenInvalid() from None
    except (jwt.PyJWTError, TypeError, ValueError):
        # The key the `kid` names does not fit the header's algorithm (an RSA algorithm with an
        # EC key, an `oct` or P-384 key in the set, a set with no usable key): PyJWT raises
        # InvalidKeyError, PyJWKError / PyJWKSetError or a bare TypeError from cryptography.
        # Only this one call is covered, and only these types: a 401 that the failure limiter
        # counts, never a 500 before authentication.
        raise TokenInvalid("The token's signing key does not fit its algorithm.", code="key_mismatch") from None

    if "exp" not in claims:
        raise TokenInvalid("The token has no expiry.", code="invalid_token")
    _check_age(claims)
    if claims.get("role") != "authenticated":
        # Supabase's anon and service_role keys (and anonymous sign-ins' siblings) verify too:
        # only a signed-in user's token names a user, and only such a token may create one.
        raise TokenInvalid("Only a signed-in user's token is accepted (role 'authenticated').", code="not_a_user_token")
    subject = claims.get("sub")
    if not subject:
        # Supabase's anon and service_role API keys are JWTs without a subject: not users.
        raise TokenInvalid("The token has no subject; API keys are not user tokens.", code="no_subject")
    try:
        user_id = uuid.UUID(str(subject))
    except ValueError:
        raise TokenInvalid("The token's subject is not a user id.", code="invalid_subject") from None
    return VerifiedToken(user_id=user_id, email=str(claims.get("email") or ""), claims=claims)


def _check_age(claims: dict[str, Any]) -> None:
    """A maximum age counted from `iat`: `exp` alone is whatever the signer chose."""
    issued_at = claims.get("iat")
    if not isinstance(issued_at, (int, float)) or isinstance(issued_at, bool):
        raise TokenInvalid("The token does not say when it was issued (iat).", code="no_issued_at")
    age = time.time() - issued_at
    if age > settings.SUPABASE_JWT_MAX_AGE_SECONDS + settings.SUPABASE_JWT_LEEWAY_SECONDS:
        raise TokenInvalid("The token is older than the accepted maximum age.", code="token_too_old")


def issue_development_token(*, user_id: uuid.UUID, tenant_id: uuid.UUID | None, minutes: int, email: str = "") -> str:
    """An HS256 token shaped like Supabase's, for development and tests."""
    if not settings.SUPABASE_JWT_SECRET:
        raise ValueError("HS256 is off (SUPABASE_JWKS_URL without SUPABASE_JWT_SECRET): no token can be issued")

    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "aud": settings.SUPABASE_JWT_AUDIENCE,
        "role": "authenticated",
        "iat": now,
        "exp": now + minutes * 60,
        "email": email,
        "app_metadata": {"tenant_id": str(tenant_id)} if tenant_id else {},
        "user_metadata": {},
        "is_anonymous": False,
    }
    if settings.SUPABASE_JWT_ISSUER:
        claims["iss"] = settings.SUPABASE_JWT_ISSUER
    return jwt.encode(claims, settings.SUPABASE_JWT_SECRET, algorithm="HS256")
