"""Load (idempotently) the demo tenant, its owner and each app's demo data; print how to log in."""

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from tenants.app_modules import optional_modules
from tenants.auth.supabase import issue_development_token
from tenants.models import Tenant, User
from tenants.services import tenant_create

DEMO_OWNER_SUB = uuid.UUID("00000000-0000-4000-8000-000000000001")
DEMO_SLUG = "demo-salon"


class Command(BaseCommand):
    help = "Create the demo tenant and its demo data (idempotent), reset the admin password, print a token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="where the server answers (scripts/run passes its real address), for the printed curl line",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = tenant_create(
                name="Demo Salon",
                owner_sub=DEMO_OWNER_SUB,
                owner_email="owner@demo-salon.test",
                timezone="America/New_York",
                currency="USD",
                country="US",
            )
        owner = User.objects.get(id=DEMO_OWNER_SUB)
        # Every app's seed is idempotent: an existing demo tenant gets what newer apps add.
        for _app, module in optional_modules("demo"):
            module.seed(tenant=tenant, owner=owner)
        password = secrets.token_urlsafe(12)
        # Created staff: the database refuses to make an existing account staff (tenants 0006).
        admin, _ = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@brandvx.test", "is_staff": True, "is_superuser": True}
        )
        admin.set_password(password)
        admin.save()
        token = issue_development_token(
            user_id=DEMO_OWNER_SUB, tenant_id=tenant.id, minutes=60 * 24, email="owner@demo-salon.test"
        )
        self.stdout.write(f"Demo tenant: {tenant.name} ({tenant.id})")
        self.stdout.write(f"Admin login: admin / {password}")
        if settings.SUPABASE_JWT_SECRET_IS_DEVELOPMENT_DEFAULT:
            self.stdout.write(f"SUPABASE_JWT_SECRET (development default): {settings.SUPABASE_JWT_SECRET}")
        self.stdout.write("Demo bearer token (24 h, owner_admin of the demo tenant):")
        base_url = str(options["base_url"]).rstrip("/")
        self.stdout.write(f"  curl -H 'Authorization: Bearer {token}' {base_url}/api/v1/me/")
