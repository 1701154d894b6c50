"""`manage.py isolate_tenant` off Citus: refused with a reason (tenants are isolated by RLS
alone there), and a bad id is named. On the cluster: tenants/tests/test_citus.py."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenants.db.sharding import is_citus

pytestmark = pytest.mark.django_db


def test_off_citus_the_command_refuses_with_its_reason(world):
    from django.db import connections

    if is_citus(connections["owner"]):
        pytest.skip("on Citus: see test_citus.py")
    with pytest.raises(CommandError, match="not a Citus coordinator"):
        call_command("isolate_tenant", str(world.tenant_a.id))


def test_a_bad_id_is_refused():
    with pytest.raises(CommandError, match="UUID"):
        call_command("isolate_tenant", "not-a-uuid")
