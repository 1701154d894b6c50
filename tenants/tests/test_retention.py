"""Retention (issue 27), with the clock moved by time-machine: webhook events go after
WEBHOOK_RETENTION_DAYS, finished jobs' row-level details after JOB_DETAIL_RETENTION_DAYS,
the support audit and change logs after AUDIT_RETENTION_DAYS; nothing before."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from conftest import build_full_world
from integrations.models import WebhookEvent
from tenants.context import tenant_context
from tenants.models import BackgroundJob, ChangeRecord, SupportAccess
from tenants.tasks import purge_expired_details

pytestmark = pytest.mark.usefixtures("committed")


def state(tenant_id) -> dict:
    with tenant_context(tenant_id, role="system"):
        job = BackgroundJob.objects.get(kind="test.finished")
        return {
            "webhook_events": WebhookEvent.objects.count(),
            "job_details": (job.params, job.errors, job.result),
            "job_counts": job.counts,
            "support_accesses": SupportAccess.objects.count(),
            "change_records": ChangeRecord.objects.count(),
        }


def test_each_kind_of_detail_is_kept_exactly_as_long_as_its_setting_says():
    world = build_full_world()
    tenant = world.tenant_a
    start = timezone.now()
    with tenant_context(tenant.id, role="system"):
        BackgroundJob.objects.create(
            tenant=tenant,
            kind="test.finished",
            status="succeeded",
            finished_at=start,
            params={"filename": "Ada Secret.csv"},
            errors=[{"row": 2, "reason": "Ada Secret: bad phone"}],
            result={"created": 1},
            counts={"created": 1},
        )
    details = ({"filename": "Ada Secret.csv"}, [{"row": 2, "reason": "Ada Secret: bad phone"}], {"created": 1})
    initial = state(tenant.id)
    assert initial["webhook_events"] and initial["support_accesses"] and initial["change_records"]

    with time_machine.travel(start + datetime.timedelta(days=29)):
        purge_expired_details()
    assert state(tenant.id) == initial

    with time_machine.travel(start + datetime.timedelta(days=31)):
        purge_expired_details()
    after_31 = state(tenant.id)
    assert after_31["webhook_events"] == 0
    assert after_31["job_details"] == details

    with time_machine.travel(start + datetime.timedelta(days=91)):
        purge_expired_details()
    after_91 = state(tenant.id)
    assert after_91["job_details"] == ({}, [], {}) and after_91["job_counts"] == {"created": 1}
    assert after_91["support_accesses"] == initial["support_accesses"]

    with time_machine.travel(start + datetime.timedelta(days=729)):
        purge_expired_details()
    assert state(tenant.id)["support_accesses"] == initial["support_accesses"]

    with time_machine.travel(start + datetime.timedelta(days=731)):
        purge_expired_details()
    final = state(tenant.id)
    assert final["support_accesses"] == 0 and final["change_records"] == 0
