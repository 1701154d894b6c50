"""The job list is built from rows (serializers.job_json), single jobs with
BackgroundJobSerializer: both must give the same JSON, byte for byte (issue 15)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from common.renderers import JSONRenderer
from tenants.api.serializers import JOB_ROW_FIELDS, BackgroundJobSerializer, job_json, job_progress
from tenants.context import tenant_context
from tenants.models import BackgroundJob
from tenants.testing import assert_items_match_details, every_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(world):
    """Jobs with and without each optional value: no total (no percentage), a fraction, done;
    empty and nested JSON; with and without a user, start and finish times."""
    tenant, now = world.tenant_a, timezone.now()
    varied = [
        dict(kind="clients.import", status=BackgroundJob.Status.QUEUED),
        dict(
            kind="clients.import",
            status=BackgroundJob.Status.RUNNING,
            progress_total=3,
            progress_done=1,
            counts={"created": 1, "updated": 0},
            params={"filename": "Zoë \u2028 clients.csv", "size": 1234},
            started_by=world.owner_a,
            started_at=now - datetime.timedelta(minutes=5, microseconds=7),
        ),
        dict(
            kind="campaigns.birthday_batch",
            status=BackgroundJob.Status.FAILED,
            progress_total=7,
            progress_done=7,
            errors=[{"row": 2, "reason": "bad email"}, {"row": 9, "reason": "ünïcode"}],
            errors_truncated=4,
            result={"ratio": 0.1, "nested": {"list": [1, None, True, "x"]}},
            failure_reason="worker lost\nsecond line",
            started_by=world.staff_a,
            started_at=now - datetime.timedelta(hours=1),
            finished_at=now,
        ),
        dict(kind="integrations.sync", status=BackgroundJob.Status.CANCELED, progress_total=2, finished_at=now),
    ]
    with tenant_context(tenant.id, role="system"):
        made = [BackgroundJob.objects.create(tenant=tenant, **fields) for fields in varied]
    with tenant_context(world.tenant_b.id, role="system"):
        BackgroundJob.objects.create(tenant=world.tenant_b, kind="clients.import")
    return [job.id for job in made]


def test_job_rows_give_the_serializers_json(world, jobs):
    render = JSONRenderer().render
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        queryset = BackgroundJob.objects.filter(id__in=jobs).order_by("id")
        from_serializer = BackgroundJobSerializer(list(queryset), many=True).data
        from_rows = [job_json(row) for row in queryset.values(*JOB_ROW_FIELDS)]
    assert len(from_rows) == 4
    assert render(from_rows) == render(from_serializer)
    assert sorted(str(item["progress"]["percent"]) for item in from_rows) == ["0.0", "100.0", "33.3", "None"]


def test_job_list_and_detail_endpoints_agree(world, jobs):
    listed = every_page(world.a, "/api/v1/jobs/?page_size=3")
    assert sorted(str(item["id"]) for item in listed) == sorted(str(job_id) for job_id in jobs)
    assert_items_match_details(world.a, listed, "/api/v1/jobs/{id}/")


def test_job_list_filters_still_apply(world, jobs):
    failed = world.a.get("/api/v1/jobs/", {"status": "failed"}).json()["results"]
    assert [item["kind"] for item in failed] == ["campaigns.birthday_batch"]
    imports = world.a.get("/api/v1/jobs/", {"kind": "clients.import"}).json()["results"]
    assert len(imports) == 2


def test_job_progress():
    assert job_progress(0, 0) == {"total": 0, "done": 0, "percent": None}
    assert job_progress(3, 2) == {"total": 3, "done": 2, "percent": 66.7}
