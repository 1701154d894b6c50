import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant with its first owner_admin. Prints the tenant's UUID as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner-sub", required=True, help="Supabase user id (the token's sub)")
        parser.add_argument("--owner-email", default="")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. Europe/London")
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--country", default="US", help="ISO 3166 code; default region for phone numbers")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            owner_sub = uuid.UUID(options["owner_sub"])
        except ValueError:
            raise CommandError("--owner-sub must be a UUID") from None
        try:
            tenant = tenant_create(
                name=options["name"],
                owner_sub=owner_sub,
                owner_email=options["owner_email"],
                timezone=options["timezone"],
                currency=options["currency"].upper(),
                country=options["country"].upper(),
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stdout.write(f"Created tenant {tenant.name!r} ({tenant.slug}), owner {owner_sub}")
        self.stdout.write(str(tenant.id))
