"""Unsubscribe links (RFC 8058 one-click, RFC 2369 List-Unsubscribe): the token and what
a POST to it records.

The token names the tenant, the client and the channel; it is the only authority (no
sign-in, no tenant header), never expires, and reveals nothing readable: the 33 bytes are
encrypted with the field key (tenants.db.crypto, Fernet: authenticated, rotated with the key
list) and the result is signed by django.core.signing with its own salt, so a token made for
anything else (another salt, another key) is refused before any decryption.
"""

from __future__ import annotations

import base64
import logging
import uuid
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core import signing
from limits import parse
from limits.strategies import FixedWindowRateLimiter

from clients.models import Client, ConsentChannel, ConsentOrigin
from clients.services import client_consent_record
from tenants.auth import ratelimit
from tenants.context import tenant_context
from tenants.db.crypto import fernet
from tenants.models import Tenant

logger = logging.getLogger(__name__)

SALT = "campaigns.unsubscribe"
_CHANNEL_CODES = {ConsentChannel.EMAIL.value: b"e", ConsentChannel.SMS.value: b"s"}
_CHANNELS_BY_CODE = {code: channel for channel, code in _CHANNEL_CODES.items()}
# Per caller address (tenants.auth.client_address): a link is clicked once or twice; a scanner or
# someone guessing tokens is stopped.
RATE = "30/minute"
_RATE_ITEM = parse(RATE)


@dataclass(frozen=True)
class Subject:
    tenant_id: uuid.UUID
    client_id: uuid.UUID
    channel: str


def token_make(*, tenant_id: uuid.UUID, client_id: uuid.UUID, channel: str) -> str:
    payload = tenant_id.bytes + client_id.bytes + _CHANNEL_CODES[channel]
    encrypted = fernet().encrypt(payload).decode()  # urlsafe base64
    return signing.Signer(salt=SALT).sign(encrypted)


def token_read(token: str) -> Subject | None:
    """The subject of a valid token; None for anything tampered, foreign or malformed."""
    try:
        encrypted = signing.Signer(salt=SALT).unsign(token)
        payload = fernet().decrypt(encrypted.encode())
    except (signing.BadSignature, InvalidToken, ValueError, TypeError):
        return None
    if len(payload) != 33 or payload[32:] not in _CHANNELS_BY_CODE:
        return None
    return Subject(uuid.UUID(bytes=payload[:16]), uuid.UUID(bytes=payload[16:32]), _CHANNELS_BY_CODE[payload[32:]])


def unsubscribe_url(*, tenant_id: uuid.UUID, client_id: uuid.UUID, channel: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/u/{token_make(tenant_id=tenant_id, client_id=client_id, channel=channel)}/"


@dataclass(frozen=True)
class Found:
    business_name: str
    channel: str


def subject_find(subject: Subject) -> Found | None:
    """The salon's name when the token's client exists in the token's tenant (RLS applies:
    a client of another tenant is not found)."""
    with tenant_context(subject.tenant_id, role="system"):
        tenant = Tenant.objects.filter(id=subject.tenant_id).first()
        if tenant is None or not Client.objects.filter(id=subject.client_id).exists():
            return None
        return Found(tenant.name, subject.channel)


def unsubscribe(subject: Subject) -> Found | None:
    """Record the withdrawal (origin `unsubscribe_link`); a repeat records nothing."""
    with tenant_context(subject.tenant_id, role="system"):
        tenant = Tenant.objects.filter(id=subject.tenant_id).first()
        client = Client.objects.select_for_update().filter(id=subject.client_id).first()
        if tenant is None or client is None:
            return None
        client_consent_record(
            tenant=tenant, client=client, decisions={subject.channel: False}, origin=ConsentOrigin.UNSUBSCRIBE_LINK
        )
        return Found(tenant.name, subject.channel)


_limiter: FixedWindowRateLimiter | None = None


def allowed(address: str) -> bool:
    """Count one request from `address`; False when it is over RATE. Redis down: allowed
    (an unsubscribe must not depend on the limiter), logged. On the API limiter's Redis
    storage (tenants.auth.ratelimit: one pool, short timeouts), under a namespace of its own."""
    global _limiter
    try:
        if _limiter is None:
            _limiter = FixedWindowRateLimiter(ratelimit.storage())
        return _limiter.hit(_RATE_ITEM, "unsubscribe", base64.urlsafe_b64encode(address.encode()).decode())
    except Exception:
        logger.warning("unsubscribe limiter: Redis unavailable", exc_info=True)
        return True
