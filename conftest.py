"""Test database set-up and the fixtures every app's tests share.

The suite runs against a real PostgreSQL: DATABASE_URL when set, else the embedded server.
Django's own test-database creation would migrate through the default alias, which is the
runtime role (it may not create tables), so the test database is created and migrated here,
as the owner; the tests themselves then run as the runtime role, under RLS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from rest_framework.test import APIClient

from tenants.app_modules import optional_modules
from tenants.db import citus_cluster
from tenants.models import Role, Tenant, User
from tenants.testing import add_member, api_client
from tenants.tests.factories import TenantFactory, UserFactory


def _maintenance_conninfo() -> dict[str, Any]:
    owner = settings.DATABASES["owner"]
    params: dict[str, Any] = {"dbname": "postgres", "user": owner["USER"], "password": owner["PASSWORD"] or None}
    if owner.get("HOST"):
        params["host"] = owner["HOST"]
    if owner.get("PORT"):
        params["port"] = owner["PORT"]
    return {k: v for k, v in params.items() if v is not None}


def _recreate(name: str, *, create: bool) -> None:
    # On a Citus coordinator the database is made (and dropped) on every node.
    if create:
        citus_cluster.create_database(_maintenance_conninfo(), name)
    else:
        citus_cluster.drop_database(_maintenance_conninfo(), name)


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker: Any) -> Iterator[None]:
    # One database per run (pid): parallel runs against one server do not trample each other.
    test_name = f"test_{settings.DATABASES['owner']['NAME']}_{os.getpid()}"
    with django_db_blocker.unblock():
        _recreate(test_name, create=True)
        for alias in ("default", "owner"):
            connections[alias].close()
            settings.DATABASES[alias]["NAME"] = test_name
            connections[alias].settings_dict["NAME"] = test_name
        call_command("migrate", database="owner", verbosity=0, interactive=False)
    yield
    with django_db_blocker.unblock():
        for conn in connections.all():
            conn.close()
        _recreate(test_name, create=False)


@pytest.fixture
def committed(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Database access with no wrapping test transaction: what is written is committed.

    For tests about transactions themselves (statement counts, persistent connections,
    workers in other processes). Rows are left behind; every test builds its own tenants,
    and the test database is dropped at the end of the session.
    """
    with django_db_blocker.unblock():
        yield
        for conn in connections.all():
            conn.close()


# --- the two-tenant world --------------------------------------------------------------


def make_tenant(name: str, *, timezone: str = "UTC") -> tuple[Tenant, User]:
    owner = UserFactory.create(
        username=f"owner-{name}-{Tenant.objects.count()}", email=f"owner@{name.lower().replace(' ', '-')}.test"
    )
    return TenantFactory.create(name=name, timezone=timezone, owner=owner), owner


class TenantWorld:
    """Tenant A and tenant B, each with an owner_admin, a staff member and a viewer."""

    def __init__(self) -> None:
        self.tenant_a, self.owner_a = make_tenant("Salon A", timezone="America/Los_Angeles")
        self.tenant_b, self.owner_b = make_tenant("Salon B", timezone="Pacific/Auckland")
        self.staff_a = add_member(tenant=self.tenant_a, role=Role.STAFF)
        self.viewer_a = add_member(tenant=self.tenant_a, role=Role.VIEWER)
        self.staff_b = add_member(tenant=self.tenant_b, role=Role.STAFF)
        self.data: dict[str, dict[str, Any]] = {"a": {}, "b": {}}

    def client(self, user: User, tenant: Tenant | None = None) -> APIClient:
        return api_client(user, tenant=tenant)

    @property
    def a(self) -> APIClient:
        return self.client(self.owner_a, self.tenant_a)

    @property
    def b(self) -> APIClient:
        return self.client(self.owner_b, self.tenant_b)


def build_full_world() -> TenantWorld:
    """Each app may contribute data to the world: `<app>/tests/world.py` with
    `build(world, tenant, owner) -> dict` (ids and values of what it created)."""
    world = TenantWorld()
    for app, module in optional_modules("tests.world"):
        for key, tenant, owner in (("a", world.tenant_a, world.owner_a), ("b", world.tenant_b, world.owner_b)):
            world.data[key][app] = module.build(world, tenant, owner)
    return world


@pytest.fixture
def world(db: None) -> TenantWorld:
    """Two tenants with users of every role (no app data)."""
    return TenantWorld()


@pytest.fixture
def full_world(db: None) -> TenantWorld:
    """Two tenants holding data of every kind, contributed by each app's tests/world.py."""
    return build_full_world()
