"""The business export (issue 27): the job writes a ZIP whose manifest counts match the tables,
every file holds exactly the tenant's rows and no credential, and the download is the
owner's only, audited, and gone after 7 days."""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from unittest import mock

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from tenants import jobs
from tenants.context import tenant_context
from tenants.db.sharding import tenant_tables
from tenants.exports import EXPORT_JOB_KIND, export_path, tenant_export_run
from tenants.models import BackgroundJob, ChangeRecord

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.TENANT_EXPORT_DIR = str(tmp_path / "exports")
    return tmp_path / "exports"


def run_export(tenant) -> BackgroundJob:
    with tenant_context(tenant.id, role="system"):
        job = jobs.job_create(tenant=tenant, kind=EXPORT_JOB_KIND)
    tenant_export_run(tenant_id=tenant.id, job_id=job.id)
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.get(id=job.id)


def _counts_in_database(tenant_id) -> dict[str, int]:
    """Rows per tenant table, counted with SQL in the tenant's context (the catalog's list)."""
    with tenant_context(tenant_id, role="system"), connections["default"].cursor() as cursor:
        counts = {}
        for table in tenant_tables(cursor):
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id = %s', [tenant_id])
            counts[table] = cursor.fetchone()[0]
    return counts


def test_the_export_zip_opens_and_its_manifest_counts_match_the_tables(full_world):
    world = full_world
    job = run_export(world.tenant_a)

    assert job.status == "succeeded", job.failure_reason
    path = export_path(world.tenant_a.id, job.id)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        expected = _counts_in_database(world.tenant_a.id)
        assert manifest["schema_version"] == 1 and manifest["tenant_id"] == str(world.tenant_a.id)
        assert {t: v["rows"] for t, v in manifest["tables"].items()} == expected
        assert all(expected.values())  # the world has rows in every table: nothing vacuous
        assert "clients" in manifest["migrations"]
        text = b""
        for table, entry in manifest["tables"].items():
            data = archive.read(entry["file"])
            rows = [json.loads(line) for line in data.splitlines()]
            assert len(rows) == entry["rows"]
            assert {row["tenant_id"] for row in rows} == {str(world.tenant_a.id)}, table
            text += data
    assert job.result["rows"] == sum(expected.values()) and job.result["size_bytes"] == path.stat().st_size
    # Credentials are left out (encrypted columns), and nothing of tenant B is there.
    assert "credentials" in manifest["left_out"]["integrations_integrationconnection"]
    assert world.data["a"]["integrations"]["secret"].encode() not in text
    assert world.data["a"]["clients"]["secret"].encode() in text
    assert world.data["b"]["clients"]["secret"].encode() not in text


def test_the_download_is_the_owners_audited_and_expires_after_seven_days(full_world):
    world = full_world
    job = run_export(world.tenant_a)
    url = f"/api/v1/tenant/export/{job.id}/download/"

    assert world.client(world.staff_a, world.tenant_a).get(url).status_code == 403
    assert world.b.get(url).status_code == 404  # tenant B's owner, A's job id
    response = world.a.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    body = b"".join(response.streaming_content)
    assert body == export_path(world.tenant_a.id, job.id).read_bytes()
    assert zipfile.ZipFile(io.BytesIO(body)).read("manifest.json")
    with tenant_context(world.tenant_a.id, role="system"):
        assert ChangeRecord.objects.filter(action="tenant.export_downloaded", object_id=str(job.id)).count() == 1
        other_job = BackgroundJob.objects.exclude(kind=EXPORT_JOB_KIND).first()
    assert world.a.get(f"/api/v1/tenant/export/{other_job.id}/download/").status_code == 404

    with time_machine.travel(timezone.now() + datetime.timedelta(days=7, minutes=1)):
        gone = world.a.get(url)
    assert gone.status_code == 410 and gone.json()["code"] == "export_expired"


def test_starting_an_export_queues_a_job_for_the_owner_only(full_world):
    world = full_world
    assert world.client(world.staff_a, world.tenant_a).post("/api/v1/tenant/export/").status_code == 403
    with mock.patch("brandvx.celery.app.send_task") as delay:
        response = world.a.post("/api/v1/tenant/export/")
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    with tenant_context(world.tenant_a.id, role="system"):
        assert BackgroundJob.objects.get(id=job_id).kind == EXPORT_JOB_KIND
    # Enqueued after commit: the test transaction never commits, so nothing was sent.
    delay.assert_not_called()
