"""/api/v1/me/, /api/v1/jobs/, /api/v1/audit-log/, /healthz."""

from __future__ import annotations

import pytest

from conftest import TenantWorld
from tenants import jobs
from tenants.context import tenant_context
from tenants.models import BackgroundJob, SupportAccess, User
from tenants.testing import api_client

pytestmark = pytest.mark.django_db


def make_job(tenant, **kwargs) -> BackgroundJob:
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.create(tenant=tenant, kind="test.kind", **kwargs)


def test_me_shows_user_tenant_role_and_memberships():
    world = TenantWorld()
    body = world.a.get("/api/v1/me/").json()
    assert body["tenant"]["name"] == "Salon A" and body["tenant"]["timezone"] == "America/Los_Angeles"
    assert body["role"] == "owner_admin"
    assert [m["tenant"]["id"] for m in body["memberships"]] == [str(world.tenant_a.id)]


def test_jobs_list_and_detail_are_tenant_scoped():
    world = TenantWorld()
    job_a = make_job(world.tenant_a, progress_total=10, progress_done=4)
    job_b = make_job(world.tenant_b)
    listing = world.a.get("/api/v1/jobs/").json()
    assert [row["id"] for row in listing["results"]] == [str(job_a.id)]
    detail = world.a.get(f"/api/v1/jobs/{job_a.id}/").json()
    assert detail["progress"] == {"total": 10, "done": 4, "percent": 40.0}
    assert world.a.get(f"/api/v1/jobs/{job_b.id}/").status_code == 404
    assert world.b.get(f"/api/v1/jobs/{job_a.id}/").status_code == 404
    assert world.b.post(f"/api/v1/jobs/{job_a.id}/cancel/").status_code == 404
    assert str(job_a.id) not in world.b.get("/api/v1/jobs/").content.decode()


def test_cancel_job_and_roles():
    world = TenantWorld()
    job = make_job(world.tenant_a)
    viewer = api_client(world.viewer_a, tenant=world.tenant_a)
    assert viewer.get(f"/api/v1/jobs/{job.id}/").status_code == 200
    assert viewer.post(f"/api/v1/jobs/{job.id}/cancel/").status_code == 403
    staff = api_client(world.staff_a, tenant=world.tenant_a)
    response = staff.post(f"/api/v1/jobs/{job.id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    again = staff.post(f"/api/v1/jobs/{job.id}/cancel/")
    assert again.status_code == 409 and again.json()["code"] == "job_finished"


def test_job_services_progress_counts_and_bounded_errors():
    world = TenantWorld()
    job = make_job(world.tenant_a)
    with tenant_context(world.tenant_a.id, role="system"):
        assert jobs.job_start(job_id=job.id, total=3) is not None
        jobs.job_advance(job_id=job.id, done=2, counts={"created": 2})
        errors = [{"row": n, "reason": "bad"} for n in range(BackgroundJob.MAX_ERRORS + 5)]
        jobs.job_advance(job_id=job.id, done=1, counts={"created": 1, "failed": 1}, errors=errors)
        jobs.job_finish(job_id=job.id)
        job.refresh_from_db()
    assert job.status == "succeeded" and job.progress_done == 3
    assert job.counts == {"created": 3, "failed": 1}
    assert len(job.errors) == BackgroundJob.MAX_ERRORS and job.errors_truncated == 5


def test_canceled_job_stays_canceled_and_is_not_restarted():
    world = TenantWorld()
    job = make_job(world.tenant_a)
    with tenant_context(world.tenant_a.id, role="system"):
        jobs.job_cancel(job_id=job.id)
        assert jobs.job_start(job_id=job.id) is None
        jobs.job_finish(job_id=job.id)
        assert BackgroundJob.objects.get(id=job.id).status == "canceled"


def test_job_create_refuses_with_503_when_the_broker_is_down(settings):
    world = TenantWorld()
    from brandvx.celery import app
    from common.errors import Unavailable

    enqueued = []
    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        with pytest.raises(Unavailable), tenant_context(world.tenant_a.id, role="owner_admin"):
            jobs.job_create(tenant=world.tenant_a, kind="test.kind", enqueue=enqueued.append)
    finally:
        app.conf.broker_url = original
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        assert not BackgroundJob.objects.filter(kind="test.kind").exists()
    assert enqueued == []


def test_audit_log_is_owner_only_and_scoped():
    world = TenantWorld()
    staff_user = User.objects.create(username="agent", email="agent@brandvx.test", is_staff=True)
    with tenant_context(world.tenant_a.id, role="system"):
        access = SupportAccess.objects.create(
            tenant=world.tenant_a, staff_user=staff_user, action="view", reason="ticket 42"
        )
    body = world.a.get("/api/v1/audit-log/").json()
    assert [row["id"] for row in body["results"]] == [str(access.id)]
    assert body["results"][0]["staff_email"] == "agent@brandvx.test"
    assert api_client(world.staff_a, tenant=world.tenant_a).get("/api/v1/audit-log/").status_code == 403
    assert world.b.get("/api/v1/audit-log/").json()["results"] == []
    assert world.b.get(f"/api/v1/audit-log/{access.id}/").status_code == 404


def test_audit_log_is_append_only():
    from django.db import DatabaseError, transaction

    world = TenantWorld()
    staff_user = User.objects.create(username="agent2", email="agent2@brandvx.test", is_staff=True)
    with tenant_context(world.tenant_a.id, role="system"):
        access = SupportAccess.objects.create(tenant=world.tenant_a, staff_user=staff_user, action="view")
        # The runtime role has no UPDATE or DELETE on it (tenants.db.roles, `append_only`).
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            SupportAccess.objects.filter(id=access.id).update(reason="rewritten")
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            SupportAccess.objects.filter(id=access.id).delete()


def test_healthz_reports_database_and_broker():
    response = api_client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_healthz_is_503_when_the_broker_is_down():
    from brandvx.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = api_client().get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503 and response.json()["checks"]["broker"] == "unavailable"


def test_schema_and_docs_are_served():
    client = api_client()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/me/" in paths and "/api/v1/jobs/{id}/cancel/" in paths
    assert client.get("/api/docs/").status_code == 200


def test_stale_running_jobs_are_failed_in_every_tenant_and_fresh_ones_kept(settings):
    import datetime

    from django.utils import timezone

    world = TenantWorld()
    stale_a = make_job(world.tenant_a, status="running")
    stale_b = make_job(world.tenant_b, status="running")
    fresh = make_job(world.tenant_a, status="running")
    queued = make_job(world.tenant_b, status="queued")
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS + 60)
    for tenant, job in ((world.tenant_a, stale_a), (world.tenant_b, stale_b), (world.tenant_b, queued)):
        with tenant_context(tenant.id, role="system"):
            BackgroundJob.objects.filter(id=job.id).update(updated_at=long_ago)
    from tenants.tasks import fail_stale_jobs

    assert fail_stale_jobs.run() == 2
    assert fail_stale_jobs.run() == 0  # idempotent
    with tenant_context(world.tenant_a.id, role="system"):
        assert BackgroundJob.objects.get(id=stale_a.id).status == "failed"
        assert "worker" in BackgroundJob.objects.get(id=stale_a.id).failure_reason
        assert BackgroundJob.objects.get(id=fresh.id).status == "running"
    with tenant_context(world.tenant_b.id, role="system"):
        assert BackgroundJob.objects.get(id=stale_b.id).status == "failed"
        assert BackgroundJob.objects.get(id=queued.id).status == "queued"
