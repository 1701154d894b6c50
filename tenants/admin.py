"""Support admin for the tenant registry and users (not tenant data: see tenants.support)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tenants.models import Tenant, User


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
