"""Staff sign-in at /admin/login/: attempt limiting (django-axes), two-factor (django-otp)
whenever DEBUG is off, and the support-staff enrolment command."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import TenantWorld
from tenants.models import User
from tenants.testing import STAFF_PASSWORD, admin_login, totp_token

pytestmark = pytest.mark.django_db


def support_engineer(username: str = "sam") -> User:
    user = User.objects.create(username=username, email=f"{username}@brandvx.test", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="support_access"))
    return user


def signed_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_forty_wrong_passwords_then_the_right_one_is_refused():
    user = support_engineer()
    user.set_password(STAFF_PASSWORD)
    user.save()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = HttpClient()
    codes = [
        client.post("/admin/login/", {"username": user.username, "password": f"guess-{i}"}).status_code
        for i in range(40)
    ]
    assert codes[0] == 200 and codes[-1] == 429  # wrong password form, then locked out
    right = client.post(
        "/admin/login/",
        {
            "username": user.username,
            "password": STAFF_PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": totp_token(device),
        },
    )
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session and not signed_in(client)
    # From another address too: the account is locked, not only where the guesses came from.
    elsewhere = HttpClient(REMOTE_ADDR="203.0.113.7")
    assert elsewhere.post("/admin/login/", {"username": user.username, "password": STAFF_PASSWORD}).status_code == 429
    # And the guessing address is locked for every account.
    other = support_engineer("robin")
    assert admin_login(HttpClient(), other).status_code == 429
    assert admin_login(HttpClient(REMOTE_ADDR="203.0.113.8"), other).status_code == 302


def test_a_few_wrong_passwords_do_not_lock_and_success_resets_the_count():
    user = support_engineer()
    client = HttpClient()
    for _ in range(3):
        assert client.post("/admin/login/", {"username": user.username, "password": "nope"}).status_code == 200
    assert admin_login(client, user).status_code == 302 and signed_in(client)


def test_two_factor_is_required_when_debug_is_off(settings):
    settings.DEBUG = False
    user = support_engineer()
    user.set_password(STAFF_PASSWORD)
    user.save()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = HttpClient()
    # The password alone does not sign in.
    response = client.post("/admin/login/", {"username": user.username, "password": STAFF_PASSWORD})
    assert response.status_code == 200 and not signed_in(client)
    wrong = client.post(
        "/admin/login/",
        {
            "username": user.username,
            "password": STAFF_PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": "000000" if totp_token(device) != "000000" else "111111",
        },
    )
    assert wrong.status_code == 200 and not signed_in(client)
    # A session from a password-only sign-in (any other login path) is not verified either.
    password_only = HttpClient()
    password_only.force_login(user)
    assert password_only.get("/admin/").status_code == 302
    assert admin_login(client, user).status_code == 302 and signed_in(client)


def test_without_two_factor_only_in_debug(settings):
    settings.DEBUG = True
    client = HttpClient()
    client.force_login(support_engineer())
    assert signed_in(client)


def test_enroll_support_staff_prints_a_provisioning_uri_that_signs_in():
    out = io.StringIO()
    call_command("enroll_support_staff", "--email", "Robin@BrandVX.example", stdout=out)
    uri = re.search(r"otpauth://totp/\S+", out.getvalue()).group(0)
    user = User.objects.get(username="robin@brandvx.example")
    assert user.is_staff and not user.is_superuser and user.has_perm("tenants.support_access")
    assert not user.has_usable_password() and "changepassword" in out.getvalue()
    device = TOTPDevice.objects.get(user=user)
    assert f"secret={device.config_url.split('secret=')[1].split('&')[0]}" in uri
    user.set_password(STAFF_PASSWORD)
    user.save()
    client = HttpClient()
    response = client.post(
        "/admin/login/",
        {
            "username": user.username,
            "password": STAFF_PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": totp_token(device),
        },
    )
    assert response.status_code == 302 and signed_in(client)
    # Again: the device stays (no new secret printed) unless --new-device.
    again = io.StringIO()
    call_command("enroll_support_staff", "--email", "robin@brandvx.example", stdout=again)
    assert "otpauth://" not in again.getvalue() and TOTPDevice.objects.filter(user=user).count() == 1


def test_enroll_support_staff_refuses_a_tenant_user():
    world = TenantWorld()
    with pytest.raises(CommandError, match="member of a tenant"):
        call_command("enroll_support_staff", "--email", world.owner_a.email, "--username", world.owner_a.username)
    world.owner_a.refresh_from_db()
    assert not world.owner_a.is_staff


def test_the_admin_never_shows_a_staff_members_totp_secret():
    colleague = support_engineer("colleague")
    device = TOTPDevice.objects.create(user=colleague, name="phone", confirmed=True)
    superuser = User.objects.create(username="root", email="root@brandvx.test", is_staff=True, is_superuser=True)
    client = HttpClient()
    assert admin_login(client, superuser).status_code == 302
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert page.status_code == 200 and device.key not in page.content.decode()
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 403
