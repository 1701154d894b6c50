"""Support admin for the tenant registry and users (not tenant data: see tenants.support)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tenants.models import BackgroundJob, Membership, SupportAccess, Tenant, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("id", "email", "username", "is_staff", "is_active", "date_joined")
    search_fields = ("=id", "email", "username")
    readonly_fields = ("id",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "timezone", "currency", "country", "is_active", "created_at")
    list_filter = ("is_active", "currency", "country")
    search_fields = ("name", "slug", "=id")
    readonly_fields = ("id", "created_at")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "is_active", "created_at")
    list_filter = ("role", "is_active")
    search_fields = ("user__email", "=user__id", "tenant__name", "=tenant__id")
    list_select_related = ("user", "tenant")
    autocomplete_fields = ("user",)


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

    def has_add_permission(self, request, *args):
        return False  # written by the support site itself

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
