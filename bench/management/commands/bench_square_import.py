"""Records imported per second from a Square account replayed from recorded-shape pages.

The HTTP layer is stubbed with `responses` (no network); the database is real. Runs the
real sync engine (jobs, checkpoints, savepoints) twice: a first import, then a re-sync in
which Square returns every customer again unchanged. Creates a throw-away tenant and
deletes it afterwards (unless --keep).

    python manage.py bench_square_import --customers 50000
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import responses
from django.core.management.base import BaseCommand, CommandParser

from clients.models import Client
from integrations.models import IntegrationConnection
from integrations.providers.base import RetryPolicy
from integrations.services import connection_create
from integrations.sync import run_sync
from integrations.tests import fakes
from tenants.context import tenant_context
from tenants.jobs import job_create
from tenants.models import BackgroundJob, Tenant
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Benchmark a Square customer import (stubbed HTTP, real database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=50000)
        parser.add_argument("--keep", action="store_true", help="keep the benchmark tenant and its rows")
        parser.add_argument("--json", dest="json_path", help="also write the figures to this file")

    def handle(self, *, customers: int, keep: bool, json_path: str | None, **options: Any) -> None:
        tenant = tenant_create(name=f"bench-square-{uuid.uuid4().hex[:8]}", owner_sub=uuid.uuid4())
        with tenant_context(tenant.id, role="system"):
            connection, _ = connection_create(
                tenant=tenant,
                provider="square",
                acting_user=None,
                credentials={"access_token": "bench", "refresh_token": "bench", "expires_at": "2099-01-01T00:00:00Z"},
                config={},
            )
        people = [fakes.square_customer(i) for i in range(customers)]
        pages = [people[i : i + 100] for i in range(0, len(people), 100)]
        figures: dict[str, Any] = {"customers": customers, "pages": len(pages)}
        try:
            with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
                fakes.stub_square(rsps, customer_pages=pages, search_pages=pages)
                for phase in ("first_import", "resync_unchanged"):
                    figures[phase] = self._run(tenant, connection)
                    self.stdout.write(f"{phase}: {json.dumps(figures[phase])}")
            with tenant_context(tenant.id, role="system"):
                figures["clients_in_db"] = Client.objects.count()
        finally:
            if not keep:
                self._cleanup(tenant)
        self.stdout.write(json.dumps(figures, indent=2))
        if json_path:
            with open(json_path, "w") as handle:
                json.dump(figures, handle, indent=2)

    def _run(self, tenant: Tenant, connection: IntegrationConnection) -> dict[str, Any]:
        with tenant_context(tenant.id, role="system"):
            job = job_create(
                tenant=tenant, kind="integrations.sync.square", params={"connection_id": str(connection.id)}
            )
        started = time.perf_counter()
        run_sync(tenant_id=tenant.id, job_id=job.id, policy=RetryPolicy(sleep=lambda s: None))
        seconds = time.perf_counter() - started
        with tenant_context(tenant.id, role="system"):
            job = BackgroundJob.objects.get(id=job.id)
        counts = {k.split(".", 1)[1]: v for k, v in job.counts.items() if k.startswith("customers.")}
        return {
            "status": job.status,
            "seconds": round(seconds, 2),
            "records_per_second": round(counts.get("fetched", 0) / seconds, 1) if seconds else None,
            **counts,
        }

    def _cleanup(self, tenant: Tenant) -> None:
        # As the owner of the tables (still in the tenant's context: they FORCE row level
        # security): the consent ledger is append-only for the runtime role.
        with tenant_context(tenant.id, role="system", using="owner"):
            Client.objects.using("owner").all().delete()
            Tenant.objects.using("owner").filter(id=tenant.id).delete()
