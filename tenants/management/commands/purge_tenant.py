import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.lifecycle import dangerously_purge_tenant
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Delete every row of a tenant now, everywhere, and leave its tombstone (support; irreversible). "
        "--by names who asked: it is kept on the tombstone and logged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_id", help="The tenant's UUID")
        parser.add_argument("--by", required=True, help="The support engineer (e-mail) who purges it: audited")
        parser.add_argument("--yes", action="store_true", help="Do not ask for the tenant's name as confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant_id = uuid.UUID(options["tenant_id"])
        except ValueError:
            raise CommandError("tenant_id must be a UUID") from None
        tenant = Tenant.objects.filter(id=tenant_id).first()
        if tenant is None:
            raise CommandError(f"No tenant {tenant_id} (already purged?)")
        if not options["yes"]:
            typed = input(f"Type the tenant's name ({tenant.name!r}) to purge it: ")
            if typed != tenant.name:
                raise CommandError("The name does not match; nothing was done.")
        by = options["by"].strip()
        if not by:
            raise CommandError("--by must name who purges the tenant")
        result = dangerously_purge_tenant(tenant_id, purged_by=f"support: {by}")
        total = sum(result.deleted.values())
        for table, count in sorted(result.deleted.items()):
            self.stdout.write(f"{table}: {count}")
        self.stdout.write(f"Purged tenant {tenant_id}: {total} rows; tombstone left.")
