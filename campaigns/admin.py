"""Admin for campaign data (support staff, tenants.support.site: read across tenants,
audited; changed only inside an entered tenant). The encrypted sender credentials are never
shown."""

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from campaigns import services
from campaigns.models import CampaignSettings, MessageDraft
from campaigns.rules import MAX_BODY_LENGTH
from tenants.models import User
from tenants.support.site import SupportModelAdminMixin, support_tenant


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


class MessageDraftAdminForm(forms.ModelForm):
    def clean_body(self) -> str:
        """The service's rules (campaigns.services.draft_update_body), beside the field."""
        body = (self.cleaned_data.get("body") or "").strip()
        if "body" in self.changed_data:
            draft = self.instance
            if draft.status != MessageDraft.Status.DRAFT:
                raise forms.ValidationError(f"Only drafts can be edited; this one is {draft.status}.")
            if not body:
                raise forms.ValidationError("The text may not be blank.")
            limit = MAX_BODY_LENGTH[draft.channel]
            if len(body) > limit:
                raise forms.ValidationError(f"At most {limit} characters for {draft.channel}.")
        return body


@admin.register(MessageDraft)
class MessageDraftAdmin(SupportModelAdminMixin, admin.ModelAdmin):
    """A draft's text is the one thing changed here (support staff and superusers alike, and
    only while it is a draft); approving, discarding and sending are the owner's, through
    the API."""

    form = MessageDraftAdminForm
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
    date_hierarchy = "occasion_date"
    fields = (
        "tenant",
        "client",
        "channel",
        "occasion",
        "occasion_date",
        "body",
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
    readonly_fields = tuple(name for name in fields if name != "body")
    support_editable_fields = ("body",)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # drafts are written by birthday batches

    def save_model(self, request: HttpRequest, obj: MessageDraft, form: forms.ModelForm, change: bool) -> None:
        # Through the service, as the API: a ChangeRecord "draft.edited" naming the staff member.
        if "body" in form.changed_data:
            services.draft_update_body(
                tenant=support_tenant(request),
                draft_id=obj.id,
                body=form.cleaned_data["body"],
                acting_user=cast(User, request.user),  # the admin site lets only signed-in staff in
            )
        obj.refresh_from_db()
