"""Log records carry tenant, user and job; the limiter keys on the caller behind trusted proxies."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.test import RequestFactory

from tenants.auth.client_address import client_address
from tenants.context import TenantContext, activate
from tenants.context.logging import ContextFilter, job_id_scope, task_ended, task_started


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("brandvx.test", logging.INFO, __file__, 1, "hello", None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    ContextFilter().filter(record)
    return record


def test_records_carry_the_active_context_and_extra_wins():
    tenant, user = uuid.uuid4(), uuid.uuid4()
    with activate(TenantContext(tenant_id=tenant, user_id=user, role="staff")):
        plain = _record()
        explicit = _record(tenant_id="from-extra", job_id="job-1")
    assert (plain.tenant_id, plain.user_id, plain.job_id) == (str(tenant), str(user), "-")
    assert (explicit.tenant_id, explicit.job_id) == ("from-extra", "job-1")
    outside = _record()
    assert (outside.tenant_id, outside.user_id, outside.job_id) == ("-", "-", "-")


def test_the_configured_format_prints_them():
    from django.conf import settings

    formatter = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"])
    with job_id_scope("job-42"):
        line = formatter.format(_record(tenant_id="t-1"))
    assert "tenant=t-1" in line and "job=job-42" in line and "user=-" in line


def test_a_task_called_with_job_id_logs_with_it():
    from clients.tasks import client_import_csv_task  # (tenant_id, job_id), like every job task

    task_started(task_id="celery-1", task=client_import_csv_task, args=("tenant-1", "job-7"), kwargs={})
    assert _record().job_id == "job-7"
    task_ended(task_id="celery-1")
    assert _record().job_id == "-"
    task_started(task_id="celery-2", task=client_import_csv_task, args=(), kwargs={"tenant_id": "t", "job_id": "job-8"})
    assert _record().job_id == "job-8"
    task_ended(task_id="celery-2")


@pytest.mark.parametrize(
    "hops, forwarded, expected",
    [
        (0, "198.51.100.7", "10.0.0.1"),  # no proxy configured: the header is the caller's claim
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # a spoofed left part is ignored
        (2, "198.51.100.7, 203.0.113.9", "198.51.100.7"),
        (2, "203.0.113.9", "10.0.0.1"),  # fewer entries than proxies: not through them all
        (1, "not-an-address", "10.0.0.1"),
    ],
)
def test_client_address_trusts_only_configured_proxies(settings, hops, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = hops
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


@pytest.mark.django_db
def test_the_auth_failure_limit_is_per_caller_behind_a_proxy(settings):
    from django.core.cache import cache

    from tenants.testing import api_client

    settings.TRUSTED_PROXY_COUNT = 1
    settings.AUTH_FAILURE_LIMIT = 3
    cache.clear()
    noisy = api_client()
    noisy.credentials(HTTP_AUTHORIZATION="Bearer not-a-token", HTTP_X_FORWARDED_FOR="198.51.100.7")
    codes = [noisy.get("/api/v1/me/").status_code for _ in range(5)]
    assert codes[:3] == [401] * 3 and codes[3:] == [429, 429]
    # Another salon behind the same proxy (same REMOTE_ADDR) is not locked out.
    other = api_client()
    other.credentials(HTTP_AUTHORIZATION="Bearer not-a-token", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert other.get("/api/v1/me/").status_code == 401
