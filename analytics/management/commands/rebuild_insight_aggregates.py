"""Rebuild the insight aggregates of one tenant (--tenant) or of every tenant."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics import aggregates
from tenants.context import tenant_context
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Rebuild the insight aggregates from the rows: of one tenant (--tenant UUID) or of every tenant. "
        "Run it after a tenant's time zone changed (until then its insights are read from the rows)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="the tenant's UUID (default: every tenant)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["tenant"]:
            try:
                tenant_id = uuid.UUID(options["tenant"])
            except ValueError:
                raise CommandError("--tenant must be a UUID") from None
            tenants = list(Tenant.objects.filter(id=tenant_id))
            if not tenants:
                raise CommandError(f"no tenant {tenant_id}")
        else:
            tenants = list(Tenant.objects.order_by("created_at"))
        for tenant in tenants:
            with tenant_context(tenant.id, role="system"):
                try:
                    aggregates.rebuild(tenant)
                except aggregates.AggregatesUnavailable as exc:
                    raise CommandError(str(exc)) from None
            self.stdout.write(f"Rebuilt the insight aggregates of {tenant.name!r} ({tenant.id}) in {tenant.timezone}")
