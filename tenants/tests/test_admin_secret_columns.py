"""The support admin still works when the support database role cannot read password hashes
or encrypted credentials (tenants.db.roles): every read-only page of tenant data defers them."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client as HttpClient

from conftest import build_full_world
from tenants.context import tenant_context
from tenants.models import User
from tenants.support.site import _is_tenant_model
from tenants.testing import admin_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def support():
    user = User.objects.create(
        username="support-secrets", email="support@brandvx.test", is_staff=True, is_superuser=True
    )
    client = HttpClient()
    assert admin_login(client, user).status_code == 302  # password and TOTP code, as staff sign in
    return client


def test_every_read_only_change_page_of_tenant_data_works_without_secret_columns(support):
    world = build_full_world()
    secret = world.data["a"]["integrations"]["secret"]
    checked = []
    for model in admin.site._registry:
        if not _is_tenant_model(model):
            continue
        with tenant_context(world.tenant_a.id, role="system"):
            obj = model.objects.first()
        if obj is None:
            continue
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/{obj.pk}/change/"
        response = support.get(url)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        assert secret not in response.content.decode() and "pbkdf2_sha256$" not in response.content.decode()
        checked.append(model._meta.model_name)
    assert {"integrationconnection", "campaignsettings", "membership", "backgroundjob", "messagedraft"} <= set(checked)


def test_user_autocomplete_in_support_mode_reads_no_password(support):
    world = build_full_world()
    url = "/admin/autocomplete/?app_label=tenants&model_name=membership&field_name=user&term=owner"
    response = support.get(url)
    assert response.status_code == 200, response.content[:500]
    assert str(world.owner_a.id) in {row["id"] for row in response.json()["results"]}
