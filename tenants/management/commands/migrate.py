"""`migrate`, run as the owner; on a Citus coordinator it also distributes the schema.

The default alias connects as the runtime role, which may not create or alter tables; the
owner alias (DATABASE_URL as given) does. Django's own migrate is unchanged otherwise. When
the database has the `citus` extension, every tenant table ends distributed by tenant_id and
co-located, tenants and users are reference tables, the rest local (tenants.db.sharding);
re-running it changes nothing. On plain PostgreSQL nothing more happens.
"""

from typing import Any

from django.core.management.base import CommandParser
from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import connections

from tenants.db.roles import grant_runtime_privileges
from tenants.db.sharding import distribute_schema


class Command(DjangoMigrateCommand):
    help = DjangoMigrateCommand.help + " Runs as the database owner (alias 'owner') unless --database is given."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        for action in parser._actions:
            if action.dest == "database":
                action.default = "owner"
                action.help = "Database alias to migrate (default: owner, the role that owns the tables)."

    def handle(self, *args: Any, **options: Any) -> None:
        super().handle(*args, **options)
        if options.get("plan"):
            return
        database = options["database"]
        distributed = distribute_schema(connections[database])
        if distributed:
            # Grants made before distribution are copied to the shards; repeat them now that
            # every table is distributed, so they reach every node whatever came first.
            grant_runtime_privileges(sender=None, using=database)
            if options["verbosity"] >= 1:
                self.stdout.write(f"Citus: distributed by tenant_id: {', '.join(distributed)}")
