"""Support admin for the tenant registry, users and memberships (see tenants.support.site).

The registry and users reach tenants' data, so their pages are audited like tenant data:
a tenant changes only from inside it (entered, with a reason), and users never change here.
Support staff are made with `manage.py enroll_support_staff`, never through these pages:
no admin path sets a password or grants staff status.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from tenants.models import BackgroundJob, Membership, SupportAccess, Tenant, User
from tenants.support.site import SupportModelAdminMixin


@admin.register(User)
class UserAdmin(SupportModelAdminMixin, DjangoUserAdmin):
    list_display = ("id", "email", "username", "is_staff", "is_active", "date_joined")
    search_fields = ("=id", "email", "username")
    # Read-only for everyone, entered or not: a password or staff status set here would hand
    # a tenant's account to whoever set it. (The user-change-password page checks this too.)
    support_read_only = True
    # No password hash, not even its summary.
    fieldsets = (
        (None, {"fields": ("id", "username", "email", "first_name", "last_name")}),
        ("Platform access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ("id",)
    # Not UserChangeForm: it reads the password hash (to describe it), which support may not.
    form = forms.ModelForm

    def support_tenants_of(self, request: HttpRequest, objects: Iterable[User]) -> set[Any]:
        user_ids = [user.id for user in objects]
        if not user_ids:
            return set()
        return set(Membership.objects.filter(user_id__in=user_ids).values_list("tenant_id", flat=True).distinct())


@admin.register(Tenant)
class TenantAdmin(SupportModelAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "timezone", "currency", "country", "is_active", "created_at")
    list_filter = ("is_active", "currency", "country")
    search_fields = ("name", "slug", "=id")
    # A deletion is scheduled and canceled by the tenant's owner (the API), never here.
    readonly_fields = ("id", "created_at", "deletion_requested_at", "deletion_due_at")
    support_tenant_field = "id"
    # The list is the directory support finds a tenant in (name, slug, time zone, currency):
    # logging a view for every tenant on it whenever it opens would bury the real accesses in
    # each owner's audit log. A tenant's own page is audited.
    support_audit_list = False

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # a platform action: `manage.py create_tenant`

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate it from inside (is_active), audited


@admin.register(Membership)
class MembershipAdmin(SupportModelAdminMixin, admin.ModelAdmin):
    """Who belongs to a tenant, and as what. Memberships are made by `create_tenant` and the
    owner's own flows, never here: no page adds one, so no staff account or other tenant's
    user becomes a member through the admin. Support staff only read them; a superuser
    inside the tenant may change the role of an existing member who is not staff, and the
    ChangeRecord and the audit row say who got which role, by whom and why."""

    list_display = ("user", "tenant", "role", "is_active", "created_at")
    list_filter = ("role", "is_active")
    search_fields = ("user__email", "=user__id", "tenant__name", "=tenant__id")
    list_select_related = ("user", "tenant")
    fields = ("tenant", "user", "role", "is_active", "created_at")
    readonly_fields = ("tenant", "user", "is_active", "created_at")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not request.user.is_superuser:
            return False
        if obj is not None and obj.user.is_staff:
            return False  # a platform account never holds a tenant role
        return super().has_change_permission(request, obj)

    def support_change_detail(self, request: HttpRequest, obj: Any, form: forms.ModelForm[Any], change: bool) -> str:
        if "role" not in form.changed_data:
            return ""
        return (
            f"{obj.user.email or obj.user.username} (user {obj.user_id}): role {form.initial.get('role')} → {obj.role}"
        )


@admin.register(BackgroundJob)
class BackgroundJobAdmin(admin.ModelAdmin):
    list_display = ("kind", "status", "tenant", "progress_done", "progress_total", "created_at", "finished_at")
    list_filter = ("status", "kind")
    search_fields = ("=id", "kind", "tenant__name")
    list_select_related = ("tenant", "started_by")
    readonly_fields = [f.name for f in BackgroundJob._meta.fields]


@admin.register(SupportAccess)
class SupportAccessAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "staff_user", "tenant", "action", "path", "remote_addr")
    list_filter = ("action",)
    search_fields = ("staff_user__email", "tenant__name", "reason")
    list_select_related = ("staff_user", "tenant")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # written by the support site itself

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
