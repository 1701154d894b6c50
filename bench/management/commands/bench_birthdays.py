"""Birthday batch throughput with real Celery worker processes: drafts created per second.

Loads N tenants x M clients (birthdays spread over the year, all with email consent), then
for each worker count: starts that many worker processes (solo pool, one process each),
queues one birthday batch per tenant covering the whole year, and times until every job has
finished. Drafts are deleted between rounds so every round does the same work.

Use a throw-away database; the data is kept so reruns skip the loading:
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/brandvx_bench python manage.py migrate
    DATABASE_URL=... REDIS_URL=... python manage.py bench_birthdays --tenants 200 --clients 300 --workers 1 2
Messages come from the template generator (unset LLM_* or it measures the LLM).
"""

from __future__ import annotations

import datetime
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from campaigns.models import MessageDraft
from campaigns.services import birthday_batch_start
from clients.models import Client
from tenants.context import dangerously_support_read_context, tenant_context
from tenants.models import BackgroundJob, Tenant
from tenants.services import tenant_create

ROOT = Path(settings.BASE_DIR)


class Command(BaseCommand):
    help = "Measure birthday-batch throughput (drafts/second) with 1..n real Celery worker processes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenants", type=int, default=200)
        parser.add_argument("--clients", type=int, default=300, help="clients per tenant")
        parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker process counts to try")
        parser.add_argument("--days-ahead", type=int, default=366)
        parser.add_argument("--prefix", default="bench-birthdays")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds per round")

    def handle(
        self,
        *args: Any,
        tenants: int,
        clients: int,
        workers: list[int],
        days_ahead: int,
        prefix: str,
        timeout: int,
        **options: Any,
    ) -> None:
        for name in ("LLM_API_URL", "LLM_API_KEY", "LLM_MODEL"):
            if os.environ.get(name) or getattr(settings, name, None):
                raise CommandError(f"{name} is set: this benchmark measures the template generator")
        tenant_ids = self._load(prefix, tenants, clients)
        for count in workers:
            self._reset(tenant_ids)
            self.stdout.write(f"round: {count} worker process(es), {len(tenant_ids)} tenants x {clients} clients")
            procs = [self._start_worker(index) for index in range(count)]
            try:
                self._wait_ready(count)
                created, elapsed = self._round(tenant_ids, days_ahead, timeout)
            finally:
                for proc in procs:
                    proc.send_signal(signal.SIGTERM)
                for proc in procs:
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            self.stdout.write(
                f"  workers={count} drafts={created} seconds={elapsed:.1f} drafts_per_second={created / elapsed:.0f}"
            )

    # --- data ----------------------------------------------------------------------------

    def _load(self, prefix: str, tenants: int, clients: int) -> list[uuid.UUID]:
        existing = list(Tenant.objects.filter(slug__startswith=prefix).order_by("slug").values_list("id", flat=True))
        rng = random.Random(42)
        zones = ["America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Kolkata", "Australia/Sydney"]
        started = time.monotonic()
        for index in range(len(existing), tenants):
            # One transaction per tenant: an interrupted load never leaves a tenant without clients.
            with transaction.atomic():
                tenant = tenant_create(
                    name=f"{prefix}-{index:05d}",
                    owner_sub=uuid.uuid4(),
                    timezone=zones[index % len(zones)],
                )
                self._load_clients(tenant, index, clients, rng)
            existing.append(tenant.id)
        if time.monotonic() - started > 1:
            self.stdout.write(f"loaded data in {time.monotonic() - started:.1f}s")
        return existing[:tenants]

    def _load_clients(self, tenant: Tenant, index: int, clients: int, rng: random.Random) -> None:
        with tenant_context(tenant.id, role="system"):
            rows = []
            for n in range(clients):
                day_of_year = datetime.date(2024, 1, 1) + datetime.timedelta(days=rng.randrange(366))
                rows.append(
                    Client(
                        tenant=tenant,
                        first_name=f"Client{n}",
                        last_name=f"Bench{index}",
                        email=f"c{n}.t{index}@bench.test",
                        birthday_month=day_of_year.month,
                        birthday_day=day_of_year.day,
                        email_consent=True,
                    )
                )
            Client.objects.bulk_create(rows, batch_size=1000)

    def _reset(self, tenant_ids: list[uuid.UUID]) -> None:
        for tenant_id in tenant_ids:
            with tenant_context(tenant_id, role="system"):
                MessageDraft.objects.all().delete()

    # --- workers ---------------------------------------------------------------------------

    def _start_worker(self, index: int) -> subprocess.Popen[bytes]:
        celery = Path(sys.executable).with_name("celery")
        return subprocess.Popen(
            [
                str(celery),
                "-A",
                "brandvx",
                "worker",
                "-Q",
                ",".join(settings.BRANDVX_QUEUES),
                "--pool",
                "solo",
                "-c",
                "1",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"bench{index}-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _wait_ready(self, count: int) -> None:
        from brandvx.celery import app

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            replies = app.control.ping(timeout=1.0) or []
            if (
                sum(1 for reply in replies for name in reply if name.startswith("bench") and f"-{os.getpid()}@" in name)
                >= count
            ):
                return
        raise CommandError("workers did not come up within 60 s")

    def _round(self, tenant_ids: list[uuid.UUID], days_ahead: int, timeout: int) -> tuple[int, float]:
        started = time.monotonic()
        job_ids = []
        for tenant_id in tenant_ids:
            with tenant_context(tenant_id, role="system"):
                tenant = Tenant.objects.get(id=tenant_id)
                job = birthday_batch_start(
                    tenant=tenant,
                    acting_user=None,
                    days_ahead=days_ahead,
                    start=datetime.date(2026, 1, 1),
                    channel="email",
                )
            job_ids.append(job.id)
        deadline = started + timeout
        while time.monotonic() < deadline:
            # The benchmark's own cross-tenant read (read-only support role), one query per poll.
            with dangerously_support_read_context(staff_user_id=None):
                open_jobs = (
                    BackgroundJob.objects.filter(id__in=job_ids).exclude(status__in=BackgroundJob.FINISHED).count()
                )
            if not open_jobs:
                break
            time.sleep(0.2)
        else:
            raise CommandError(f"round did not finish within {timeout} s")
        elapsed = time.monotonic() - started
        with dangerously_support_read_context(staff_user_id=None):
            jobs = list(BackgroundJob.objects.filter(id__in=job_ids).values_list("status", "counts"))
        failed = [status for status, _ in jobs if status != BackgroundJob.Status.SUCCEEDED]
        if failed:
            raise CommandError(f"{len(failed)} jobs did not succeed")
        return sum(counts.get("created", 0) for _, counts in jobs), elapsed
