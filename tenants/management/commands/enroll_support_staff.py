"""Make a platform support engineer: staff, the "Support" group, and a TOTP device.

The group (created, or reset to exactly SUPPORT_GROUP_PERMISSIONS, on every run) holds the
support permission and what support may change inside an entered tenant: a client's contact
fields and notes, its tags, a message draft's text. Never a superuser.

    python manage.py enroll_support_staff --email sam@brandvx.example
    python manage.py changepassword <username>        # then set the password

Prints the device's otpauth:// provisioning URI (scan it, or paste it into an authenticator
app). Run again with --new-device to replace a lost device. Tenant users (anyone with a
membership) are refused: a salon's account never becomes staff.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.context import dangerously_support_read_context
from tenants.models import Membership, User
from tenants.support.site import SUPPORT_GROUP, SUPPORT_GROUP_PERMISSIONS


class Command(BaseCommand):
    help = (
        "Create or update a support staff user (is_staff, the Support group with tenants.support_access) "
        "and print a TOTP provisioning URI."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--username", default=None, help="defaults to the email")
        parser.add_argument("--new-device", action="store_true", help="replace the user's TOTP devices")

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip().lower()
        username = options["username"] or email
        user = User.objects.filter(username=username).first()
        if user is not None:
            # Memberships are tenant rows: reading them across tenants is a support read.
            with dangerously_support_read_context(staff_user_id=None):
                is_tenant_user = Membership.objects.filter(user_id=user.id).exists()
            if is_tenant_user:
                raise CommandError(
                    f"Refusing: {username} is a member of a tenant; support staff are separate accounts."
                )
        if user is not None and user.is_superuser:
            raise CommandError(f"Refusing: {username} is a superuser; support staff are separate accounts.")
        permissions = support_group_permissions()
        if user is not None and not user.is_staff:
            # Only the database owner may grant staff status (the tenants_user trigger of
            # tenants 0006): this command is that platform-level action, run from a shell.
            if User.objects.using("owner").filter(id=user.id).update(is_staff=True) != 1:
                raise CommandError(f"Could not grant staff status to {username}.")
            user.is_staff = True
        with transaction.atomic():
            if user is None:
                user = User(username=username, email=email, is_staff=True)
                user.set_unusable_password()
                user.save(force_insert=True)
            group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
            group.permissions.set(permissions)  # exactly these, whatever the group held
            user.groups.add(group)
            devices = TOTPDevice.objects.filter(user=user)
            if options["new_device"]:
                devices.delete()
            device = devices.filter(confirmed=True).first()
            created = device is None
            if created:
                device = TOTPDevice.objects.create(user=user, name=f"{username} authenticator", confirmed=True)
        self.stdout.write(f"Support staff: {user.username} ({user.id}), group {SUPPORT_GROUP}")
        if created:
            self.stdout.write("TOTP provisioning URI (add it to an authenticator app; shown once):")
            self.stdout.write(device.config_url)
        else:
            self.stdout.write("A TOTP device exists already; use --new-device to replace it.")
        if not user.has_usable_password():
            self.stdout.write(f"Set the password with: python manage.py changepassword {user.username}")


def support_group_permissions() -> list[Permission]:
    """The Permission rows of SUPPORT_GROUP_PERMISSIONS ("app_label.codename"); a missing one
    (an app not migrated) is an error, not a smaller grant."""
    wanted = [name.split(".", 1) for name in SUPPORT_GROUP_PERMISSIONS]
    found = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.select_related("content_type").filter(
            codename__in=[codename for _, codename in wanted]
        )
    }
    missing = [name for name in SUPPORT_GROUP_PERMISSIONS if name not in found]
    if missing:
        raise CommandError(f"Missing permissions (run migrate first): {', '.join(missing)}")
    return [found[name] for name in SUPPORT_GROUP_PERMISSIONS]
