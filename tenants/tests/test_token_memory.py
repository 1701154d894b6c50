"""A verified token is remembered briefly (tenants.auth.supabase.REMEMBER_SECONDS): its signature is
not checked again, but its expiry and age are, and a change of settings forgets it."""

import time
import uuid
from unittest import mock

import pytest
from django.test import override_settings

from tenants.auth import supabase
from tenants.auth.supabase import TokenInvalid, issue_development_token, verify_token


@pytest.fixture(autouse=True)
def fresh_memory():
    supabase._verified.cache_clear()
    yield
    supabase._verified.cache_clear()


def test_a_token_is_verified_once_then_remembered():
    raw = issue_development_token(user_id=uuid.uuid4(), tenant_id=None, minutes=5)
    with mock.patch.object(supabase, "_verify", wraps=supabase._verify) as verify:
        first, second = verify_token(raw), verify_token(raw)
    assert verify.call_count == 1 and first == second


def test_a_remembered_token_still_expires():
    raw = issue_development_token(user_id=uuid.uuid4(), tenant_id=None, minutes=1)
    verify_token(raw)
    later = time.time() + 61 + 60  # past expiry and any leeway
    with mock.patch.object(supabase.time, "time", return_value=later), pytest.raises(TokenInvalid) as refused:
        verify_token(raw)
    assert refused.value.get_codes() == "token_expired"


def test_new_settings_forget_what_was_remembered():
    raw = issue_development_token(user_id=uuid.uuid4(), tenant_id=None, minutes=5)
    verify_token(raw)
    with override_settings(SUPABASE_JWT_AUDIENCE="another-audience"), pytest.raises(TokenInvalid) as refused:
        verify_token(raw)
    assert refused.value.get_codes() == "invalid_audience"


def test_failures_are_not_remembered():
    raw = issue_development_token(user_id=uuid.uuid4(), tenant_id=None, minutes=5)
    tampered = raw[:-2] + ("AA" if not raw.endswith("AA") else "BB")
    with mock.patch.object(supabase, "_verify", wraps=supabase._verify) as verify:
        for _ in range(2):
            with pytest.raises(TokenInvalid):
                verify_token(tampered)
    assert verify.call_count == 2
