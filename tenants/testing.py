"""Test helpers shared by every app's tests: tokens, API clients, statement capture.

Kept importable from application code paths only for tests and benchmarks; nothing in the
running application imports this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from rest_framework.test import APIClient

from common.renderers import JSONRenderer
from tenants.auth.supabase import issue_development_token
from tenants.models import Tenant, User


def token_for(user: User, *, tenant: Tenant | None = None, minutes: int = 10) -> str:
    return issue_development_token(
        user_id=user.id, tenant_id=tenant.id if tenant else None, minutes=minutes, email=user.email
    )


def api_client(user: User | None = None, *, tenant: Tenant | None = None, header_tenant: bool = True) -> APIClient:
    """An APIClient that sends a Bearer token for `user` (and X-Tenant-ID for `tenant`)."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
        if tenant is not None and header_tenant:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}", HTTP_X_TENANT_ID=str(tenant.id))
    return client


def every_page(client: Any, url: str) -> list[dict[str, Any]]:
    """Every item of a paginated list, following `next` until the last page."""
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.content
        items += response.data["results"]
        next_url = response.data["next"]
    return items


def assert_items_match_details(client: Any, items: list[dict[str, Any]], detail_url: str) -> None:
    """Each list item is, byte for byte, what its detail endpoint (`detail_url` with `{id}`)
    answers, plus the `url` a list row carries, which is that detail endpoint."""
    render = JSONRenderer().render
    for listed in items:
        item = dict(listed)
        url = item.pop("url", None)
        path = detail_url.format(id=item["id"])
        assert url is not None and str(url).endswith(path), (url, path)
        detail = client.get(path)
        assert detail.status_code == 200
        assert render(item) == detail.content


STAFF_PASSWORD = "correct-horse-battery-staple-42"


def totp_token(device: Any) -> str:
    """The current code of a django-otp TOTP device, as the staff member's phone shows it."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


@dataclass(frozen=True)
class SupportEngineer:
    user: User
    password: str
    totp_secret: str  # base32, from the otpauth:// URI the command printed

    def totp_code(self) -> str:
        """The code the engineer's authenticator app shows now, from the provisioning URI."""
        import base64

        from django_otp.oath import TOTP

        key = base64.b32decode(self.totp_secret + "=" * (-len(self.totp_secret) % 8))
        return f"{TOTP(key).token():06d}"


def enroll_support_engineer(email: str, *, password: str = STAFF_PASSWORD) -> SupportEngineer:
    """A support engineer made as the README says: `manage.py enroll_support_staff --email
    EMAIL` (the otpauth:// URI it prints is what the engineer's authenticator app holds),
    then `manage.py changepassword EMAIL` (its two password prompts answered with `password`)."""
    import io
    import re
    from unittest import mock
    from urllib.parse import parse_qs, urlsplit

    from django.core.management import call_command

    out = io.StringIO()
    call_command("enroll_support_staff", "--email", email, stdout=out)
    found = re.search(r"otpauth://totp/\S+", out.getvalue())
    assert found, out.getvalue()
    secret = parse_qs(urlsplit(found.group(0)).query)["secret"][0]
    user = User.objects.get(username=email.strip().lower())
    with mock.patch("getpass.getpass", return_value=password):  # the keyboard, not the command
        call_command("changepassword", user.username, stdout=io.StringIO())
    user.refresh_from_db()
    return SupportEngineer(user=user, password=password, totp_secret=secret)


def support_login(client: Any, engineer: SupportEngineer) -> Any:
    """Sign the engineer in at /admin/login/ with password, device and current code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=engineer.user)
    return client.post(
        "/admin/login/?next=/admin/",
        {
            "username": engineer.user.username,
            "password": engineer.password,
            "otp_device": device.persistent_id,
            "otp_token": engineer.totp_code(),
            "next": "/admin/",
        },
    )


def admin_login(client: Any, user: User, *, password: str = STAFF_PASSWORD) -> Any:
    """Sign `user` in at /admin/login/ the way staff do: password plus a TOTP code from a new
    device. Returns the login response (302 when signed in and verified)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user.set_password(password)
    user.save()
    device = TOTPDevice.objects.create(user=user, name="test authenticator", confirmed=True)
    return client.post(
        "/admin/login/?next=/admin/",
        {
            "username": user.username,
            "password": password,
            "otp_device": device.persistent_id,
            "otp_token": totp_token(device),
            "next": "/admin/",
        },
    )


@dataclass
class CapturedStatement:
    transaction: int | None  # index of the transaction it ran in; None = autocommit
    sql: str


@dataclass
class StatementLog:
    statements: list[CapturedStatement] = field(default_factory=list)

    def by_transaction(self) -> dict[int | None, list[str]]:
        grouped: dict[int | None, list[str]] = {}
        for statement in self.statements:
            grouped.setdefault(statement.transaction, []).append(statement.sql)
        return grouped

    def set_config_count(self, transaction: int | None) -> int:
        """How many statements of that transaction set the tenant settings."""
        marks = ("set_config('app.tenant_id'", "SET LOCAL app.tenant_id")
        return sum(any(m in s.sql for m in marks) for s in self.statements if s.transaction == transaction)


@contextlib.contextmanager
def capture_statements(alias: str = "default") -> Iterator[StatementLog]:
    """Record every statement sent on `alias` as the server receives it (after the tenant
    hook has added its settings), grouped by the transaction it ran in."""
    from psycopg.pq import TransactionStatus

    log = StatementLog()
    state = {"transaction": -1}
    conn = connections[alias]

    def recorder(execute: Any, sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
        pg = context["connection"].connection
        if context["connection"].get_autocommit():
            index = None
        else:
            if pg.info.transaction_status == TransactionStatus.IDLE:
                state["transaction"] += 1
            index = state["transaction"]
        log.statements.append(CapturedStatement(index, sql))
        return execute(sql, params, many, context)

    conn.execute_wrappers.append(recorder)  # innermost: sees what the hook sends
    try:
        yield log
    finally:
        conn.execute_wrappers.remove(recorder)


def add_member(*, tenant: Tenant, role: str = "staff", user: User | None = None) -> User:
    from tenants.tests.factories import MembershipFactory, UserFactory

    user = user or UserFactory.create()
    MembershipFactory.create(tenant=tenant, user=user, role=role)
    return user


__all__ = ["api_client", "token_for", "capture_statements", "add_member"]
