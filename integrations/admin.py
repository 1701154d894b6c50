"""Support admin. Credentials are never shown: the form excludes them and no list shows them."""

from django.contrib import admin

from integrations.models import CatalogVariation, ConnectionRoute, IntegrationConnection, WebhookEvent
from tenants.support.site import SupportModelAdminMixin


@admin.register(IntegrationConnection)
class IntegrationConnectionAdmin(admin.ModelAdmin):
    list_display = ("id", "tenant", "provider", "status", "last_sync_at", "updated_at")
    list_filter = ("provider", "status")
    search_fields = ("=id", "=tenant__id", "tenant__name")
    list_select_related = ("tenant",)
    exclude = ("credentials",)
    readonly_fields = (
        "id",
        "tenant",
        "provider",
        "config",
        "cursors",
        "last_sync_at",
        "last_error",
        "created_at",
        "updated_at",
    )


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "tenant", "provider", "event_type", "received_at", "processed", "outcome")
    list_filter = ("provider", "processed", "event_type")
    search_fields = ("=event_id", "=object_id", "=tenant__id")
    list_select_related = ("tenant",)
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]


@admin.register(CatalogVariation)
class CatalogVariationAdmin(admin.ModelAdmin):
    list_display = ("external_id", "tenant", "name", "item_external_id", "service", "price_amount")
    search_fields = ("=external_id", "=item_external_id", "name")
    list_select_related = ("tenant", "service")
    autocomplete_fields = ("service",)


@admin.register(ConnectionRoute)
class ConnectionRouteAdmin(SupportModelAdminMixin, admin.ModelAdmin):
    # A route decides which tenant an outside account's webhooks reach: shown (audited for
    # that tenant), changed only by the connection's own flow, never here.
    support_tenant_field = "routed_tenant_id"
    support_read_only = True
    # API-key routes hold a SHA-256 digest, not the key.
    list_display = ("kind", "lookup", "routed_tenant", "connection_id", "created_at")
    list_filter = ("kind",)
    search_fields = ("=lookup", "=connection_id", "=routed_tenant__id")
    list_select_related = ("routed_tenant",)
    autocomplete_fields = ("routed_tenant",)
