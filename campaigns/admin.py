"""Admin for campaign data. Plain ModelAdmins: the lead switches them to the support base
(tenants.admin_support), under which they read across tenants, audited. The encrypted sender
credentials are never shown."""

from django.contrib import admin

from campaigns.models import CampaignSettings, MessageDraft


@admin.register(CampaignSettings)
class CampaignSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "tenant",
        "default_channel",
        "birthday_run_enabled",
        "birthday_run_hour",
        "birthday_run_minute",
        "birthday_days_ahead",
        "birthday_last_scheduled_on",
        "sms_window_start",
        "sms_window_end",
        "updated_at",
    )
    list_filter = ("birthday_run_enabled", "default_channel")
    search_fields = ("tenant__name", "=tenant__id")
    list_select_related = ("tenant",)
    exclude = ("sender_credentials",)
    readonly_fields = ("birthday_last_scheduled_on", "created_at", "updated_at")


@admin.register(MessageDraft)
class MessageDraftAdmin(admin.ModelAdmin):
    list_display = (
        "occasion_date",
        "client",
        "channel",
        "status",
        "delivery_status",
        "generator",
        "generator_fallback",
        "attempts",
        "sent_at",
        "delivered_at",
        "tenant",
    )
    list_filter = ("status", "delivery_status", "channel", "occasion", "generator_fallback")
    search_fields = ("=id", "=client__id", "client__last_name", "provider_message_id", "tenant__name")
    list_select_related = ("client", "tenant")
    autocomplete_fields = ("client", "job", "approved_by")
    date_hierarchy = "occasion_date"
    readonly_fields = (
        "status",
        "recipient",
        "provider_message_id",
        "attempts",
        "approved_by",
        "approved_at",
        "sent_at",
        "send_after",
        "delivery_status",
        "delivered_at",
        "job",
        "generator",
        "generator_fallback",
        "generator_fallback_reason",
        "failure_reason",
        "created_at",
        "updated_at",
    )
