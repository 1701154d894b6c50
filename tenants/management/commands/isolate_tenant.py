"""`manage.py isolate_tenant TENANT_ID`: move a big tenant to shards of its own on Citus."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from tenants.db.sharding import is_citus, isolate_tenant
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Citus only: give one tenant shards of its own (isolate_tenant_to_new_shard, CASCADE over every "
        "co-located tenant table). Idempotent. Runs as the owner (DATABASE_OWNER_URL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_id", help="The tenant's UUID")
        parser.add_argument(
            "--transfer-mode",
            choices=["block_writes", "auto", "force_logical"],
            default="block_writes",
            help="Citus shard_transfer_mode: block_writes (default) holds writes to the tenant's shard "
            "while it splits; auto / force_logical need wal_level = logical.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant_id = uuid.UUID(options["tenant_id"])
        except ValueError:
            raise CommandError("tenant_id must be a UUID") from None
        connection = connections["owner"]
        if not is_citus(connection):
            raise CommandError("not a Citus coordinator: tenants are isolated by RLS alone on plain PostgreSQL")
        if not Tenant.objects.using("owner").filter(id=tenant_id).exists():
            raise CommandError(f"no tenant {tenant_id}")
        try:
            result = isolate_tenant(connection, str(tenant_id), transfer_mode=options["transfer_mode"])
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        verb = "isolated" if result["changed"] else "already isolated"
        self.stdout.write(
            f"tenant {tenant_id} {verb}: shard {result['shard_id']} on {result['node']} "
            f"(hash range {result['range'][0]}..{result['range'][1]})"
        )
