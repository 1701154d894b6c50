"""tenants.models.for_tenant: the tenant condition added once, and never read where it is not."""

from __future__ import annotations

import uuid

import pytest
from django.db.models import Q

from tenants.context import tenant_context
from tenants.models import BackgroundJob, Membership, for_tenant

pytestmark = pytest.mark.django_db

TENANT = uuid.UUID("11111111-1111-1111-1111-111111111111")
OTHER = uuid.UUID("22222222-2222-2222-2222-222222222222")
CONDITION = '"tenants_backgroundjob"."tenant_id" = '


def conditions(queryset) -> int:
    return str(queryset.query).count(CONDITION)


def test_added_once_whatever_form_the_tenant_takes():
    once = for_tenant(BackgroundJob.objects.all(), TENANT)
    assert conditions(once) == 1 and str(TENANT).replace("-", "") in str(once.query).replace("-", "")
    assert for_tenant(once, TENANT) is once
    assert for_tenant(once, str(TENANT)) is once
    assert conditions(for_tenant(BackgroundJob.objects.filter(tenant_id=str(TENANT)), TENANT)) == 1
    assert conditions(for_tenant(BackgroundJob.objects.filter(tenant_id=TENANT, kind="x"), TENANT)) == 1


def test_the_managers_condition_in_a_context_is_not_repeated():
    with tenant_context(TENANT, role="owner_admin"):
        scoped = BackgroundJob.objects.all()
        assert conditions(scoped) == 1
        assert for_tenant(scoped, TENANT) is scoped


@pytest.mark.parametrize(
    "queryset",
    [
        pytest.param(lambda: BackgroundJob.objects.all(), id="no condition"),
        pytest.param(lambda: BackgroundJob.objects.filter(tenant_id=OTHER), id="another tenant"),
        pytest.param(lambda: BackgroundJob.objects.filter(Q(tenant_id=TENANT) | Q(kind="x")), id="inside an OR"),
        pytest.param(lambda: BackgroundJob.objects.exclude(tenant_id=TENANT), id="negated"),
        pytest.param(lambda: BackgroundJob.objects.filter(~Q(kind="x"), Q(tenant_id=TENANT) | Q(kind="y")), id="OR"),
    ],
)
def test_added_wherever_the_condition_is_not_certain(queryset):
    before = queryset()
    after = for_tenant(before, TENANT)
    assert after is not before
    assert conditions(after) == conditions(before) + 1
    assert after.query.where.children[-1].rhs == TENANT


def test_a_joined_tables_tenant_is_not_the_querys_own():
    """Memberships of users who belong to TENANT: the condition is on the joined memberships
    (another alias of the table), so the query's own rows are still limited."""
    joined = Membership.objects.filter(user__memberships__tenant_id=TENANT)
    scoped = for_tenant(joined, TENANT)
    assert scoped is not joined
    own = '"tenants_membership"."tenant_id" = '
    assert str(joined.query).count(own) == 0 and str(scoped.query).count(own) == 1
    assert for_tenant(scoped, TENANT) is scoped


def test_a_model_without_a_condition_still_compiles_after_the_check():
    # The check must not leave the query without its table (Query.base_table caches None).
    fresh = BackgroundJob.objects.all()
    for_tenant(fresh, TENANT)
    assert list(fresh) == [] and conditions(fresh) == 0
