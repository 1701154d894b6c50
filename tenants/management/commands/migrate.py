"""`migrate`, run as the owner.

The default alias connects as the runtime role, which may not create or alter tables; the
owner alias (DATABASE_URL as given) does. Django's own migrate is unchanged otherwise.
"""

from django.core.management.commands.migrate import Command as DjangoMigrateCommand


class Command(DjangoMigrateCommand):
    help = DjangoMigrateCommand.help + " Runs as the database owner (alias 'owner') unless --database is given."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        for action in parser._actions:
            if action.dest == "database":
                action.default = "owner"
                action.help = "Database alias to migrate (default: owner, the role that owns the tables)."
