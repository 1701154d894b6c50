import io
import uuid

import jwt
import pytest
from django.core.management import CommandError, call_command

from tenants.context import tenant_context
from tenants.models import Membership, Tenant

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_prints_the_uuid_last_and_makes_an_owner():
    sub = uuid.uuid4()
    output = run(
        "create_tenant",
        "--name",
        "Glow Studio",
        "--owner-sub",
        str(sub),
        "--owner-email",
        "o@glow.test",
        "--timezone",
        "Europe/London",
    )
    tenant_id = uuid.UUID(output.strip().splitlines()[-1])
    tenant = Tenant.objects.get(id=tenant_id)
    assert tenant.timezone == "Europe/London" and tenant.slug == "glow-studio"
    with tenant_context(tenant_id, role="system"):
        membership = Membership.objects.get()
    assert membership.user_id == sub and membership.role == "owner_admin"


def test_create_tenant_rejects_bad_input():
    with pytest.raises(CommandError, match="UUID"):
        run("create_tenant", "--name", "X", "--owner-sub", "nope")
    with pytest.raises(CommandError, match="timezone"):
        run("create_tenant", "--name", "X", "--owner-sub", str(uuid.uuid4()), "--timezone", "Mars/Olympus")
    assert not Tenant.objects.filter(name="X").exists()


def test_issue_token_refused_when_debug_is_off_with_the_development_secret(settings):
    settings.DEBUG = False
    settings.SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT = True
    with pytest.raises(CommandError, match="Refusing"):
        run("issue_token", "--sub", str(uuid.uuid4()))


def test_issue_token_refused_when_hs256_is_off(settings):
    settings.DEBUG = True
    settings.SUPABASE_JWT_SECRET = None  # SUPABASE_JWKS_URL without an HS256 secret
    with pytest.raises(CommandError, match="HS256 is off"):
        run("issue_token", "--sub", str(uuid.uuid4()))


def test_issue_token_prints_a_verifiable_token(settings):
    settings.DEBUG = True
    sub, tenant = uuid.uuid4(), uuid.uuid4()
    token = run("issue_token", "--sub", str(sub), "--tenant", str(tenant), "--minutes", "5").strip()
    claims = jwt.decode(token, settings.SUPABASE_JWT_SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["sub"] == str(sub) and claims["app_metadata"] == {"tenant_id": str(tenant)}
    assert claims["exp"] - claims["iat"] == 300


def test_seed_demo_is_idempotent_and_prints_how_to_log_in():
    from analytics.models import Transaction
    from clients.models import Client

    first = run("seed_demo")
    assert "Admin login: admin / " in first and "Authorization: Bearer " in first
    tenant = Tenant.objects.get(slug="demo-salon")
    with tenant_context(tenant.id, role="system"):
        counts = (Client.objects.count(), Transaction.objects.count())
    assert counts[0] > 0 and counts[1] > 0
    run("seed_demo")
    assert Tenant.objects.filter(slug="demo-salon").count() == 1
    with tenant_context(tenant.id, role="system"):
        assert (Client.objects.count(), Transaction.objects.count()) == counts


def test_migrate_creates_the_beat_entries():
    from django_celery_beat.models import PeriodicTask

    tasks = dict(PeriodicTask.objects.values_list("task", "crontab__minute"))
    assert tasks["campaigns.birthday_schedule_fanout"] == "*/15"
    assert tasks["tenants.fail_stale_jobs"] == "7"
    assert tasks["campaigns.fail_stale_sending"] == "37"
