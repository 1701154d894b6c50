import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.auth.supabase import issue_development_token


class Command(BaseCommand):
    help = "Print a development access token (HS256, signed with SUPABASE_JWT_SECRET)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sub", required=True, help="user id (UUID)")
        parser.add_argument("--tenant", default=None, help="tenant UUID, put in app_metadata.tenant_id")
        parser.add_argument("--minutes", type=int, default=60)
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SUPABASE_JWT_SECRET:
            raise CommandError("Refusing: HS256 is off (SUPABASE_JWKS_URL is set and SUPABASE_JWT_SECRET is not).")
        if not settings.DEBUG and settings.SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT:
            raise CommandError(
                "Refusing: DEBUG is off and SUPABASE_JWT_SECRET is the development default. "
                "Set a real secret (or DJANGO_DEBUG=1 on a development machine)."
            )
        try:
            sub = uuid.UUID(options["sub"])
            tenant = uuid.UUID(options["tenant"]) if options["tenant"] else None
        except ValueError:
            raise CommandError("--sub and --tenant must be UUIDs") from None
        if not 1 <= options["minutes"] <= 60 * 24 * 30:
            raise CommandError("--minutes must be between 1 and 43200")
        self.stdout.write(
            issue_development_token(user_id=sub, tenant_id=tenant, minutes=options["minutes"], email=options["email"])
        )
