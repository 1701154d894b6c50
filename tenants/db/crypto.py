"""Secrets at rest: Fernet encryption keyed by FIELD_ENCRYPTION_KEY (comma-separated keys,
the first encrypts, all decrypt: rotate by putting a new key first, then `rotate`)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression

if TYPE_CHECKING:
    # Django's fields are generic only in django-stubs; subscripting them at runtime fails.
    # Set: a dict (or an existing token); get: always a dict.
    _TextField = models.TextField[dict[str, Any] | str, dict[str, Any]]
else:
    _TextField = models.TextField


class SecretUnreadable(Exception):
    """A stored secret does not decrypt with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])


def fernet() -> MultiFernet:
    return _fernet(settings.FIELD_ENCRYPTION_KEY)


def encrypt_json(value: dict[str, Any]) -> str:
    return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    try:
        value: dict[str, Any] = json.loads(fernet().decrypt(token.encode()))
        return value
    except InvalidToken:
        raise SecretUnreadable("the secret does not decrypt with FIELD_ENCRYPTION_KEY") from None


def rotate(token: str) -> str:
    """Re-encrypt with the first (newest) key."""
    return fernet().rotate(token.encode()).decode()


class EncryptedJSONField(_TextField):
    """A dict stored as a Fernet token. Never shown in the admin or the API; the database
    row holds only ciphertext."""

    def from_db_value(
        self, value: str | None, expression: Expression, connection: BaseDatabaseWrapper
    ) -> dict[str, Any]:
        if value is None or value == "":
            return {}
        return decrypt_json(value)

    def to_python(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return decrypt_json(value)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):  # already a token
            return value
        return encrypt_json(value)
