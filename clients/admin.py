"""Admin for client data (support staff, tenants.support.site).

Across tenants every page is read-only and audited. Inside an entered tenant, support staff
(the "Support" group) may change a client's contact fields and notes and add or remove its
tags; a superuser may also change its birthday and source. Changes go through
clients.services, as the API's do (normalized contacts, their hashes, a ChangeRecord naming
the staff member). Consent is derived from the consent ledger (clients.consent): never
edited here. The contact hashes are never shown.
"""

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from clients import services
from clients.models import Client, ClientExternalId, ClientImport, ClientTag, ConsentEvent, Tag
from common.errors import InvalidInput
from tenants.changes import record_change
from tenants.context import current_tenant_id
from tenants.models import Tenant, User
from tenants.support.site import SupportModelAdminMixin, support_tenant

# What the admin may write through clients.services (consent is not among them).
ADMIN_FIELDS = tuple(name for name in services.WRITABLE_FIELDS if name not in ("email_consent", "sms_consent"))


class ClientTagInline(admin.TabularInline):
    model = ClientTag
    extra = 0
    autocomplete_fields = ("tag",)
    fields = ("tag", "created_at")  # the tenant is the entered one (set on save)
    readonly_fields = ("created_at",)


class ClientExternalIdInline(admin.TabularInline):
    model = ClientExternalId
    extra = 0
    fields = ("provider", "external_id", "provider_created_at", "created_at")
    readonly_fields = ("created_at",)


class ClientAdminForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        """The service's own checks (a valid e-mail and phone, a real birthday), as field
        errors beside the fields, before anything is saved."""
        cleaned = super().clean() or {}
        data = {name: cleaned.get(name) for name in self.changed_data if name in ADMIN_FIELDS}
        if data:
            tenant = Tenant.objects.get(id=current_tenant_id())
            try:
                services.client_check(tenant=tenant, client=self.instance, data=data)
            except InvalidInput as error:
                for field, messages in error.fields.items():
                    self.add_error(field if field in self.fields else None, messages)
        return cleaned


@admin.register(Client)
class ClientAdmin(SupportModelAdminMixin, admin.ModelAdmin):
    form = ClientAdminForm
    list_display = (
        "display_name",
        "email",
        "phone",
        "birthday_month",
        "birthday_day",
        "source",
        "email_consent",
        "sms_consent",
        "tenant",
        "created_at",
    )
    list_filter = ("source", "email_consent", "sms_consent", "birthday_month")
    search_fields = ("first_name", "last_name", "email", "phone", "=id")
    ordering = ("last_name", "first_name", "id")  # stable pages in the list and autocomplete
    list_select_related = ("tenant",)
    fieldsets = (
        (None, {"fields": ("id", "tenant", "first_name", "last_name", "email", "phone", "phone_extension", "notes")}),
        ("Birthday", {"fields": ("birthday_month", "birthday_day", "birth_year")}),
        (
            "Consent (from the consent ledger; never edited here)",
            {"fields": ("email_consent", "email_consent_at", "sms_consent", "sms_consent_at")},
        ),
        ("Record", {"fields": ("source", "archived_at", "created_at", "updated_at")}),
    )
    exclude = ("email_hash", "phone_hash")  # matching keys, not for people to read
    readonly_fields = (
        "id",
        "tenant",
        "email_consent",
        "email_consent_at",
        "sms_consent",
        "sms_consent_at",
        "archived_at",
        "created_at",
        "updated_at",
    )
    support_editable_fields = ("first_name", "last_name", "email", "phone", "phone_extension", "notes")
    inlines = [ClientTagInline, ClientExternalIdInline]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # clients come from the API, imports and providers

    def save_model(self, request: HttpRequest, obj: Client, form: forms.ModelForm, change: bool) -> None:
        # Through the service, as the API: normalized, hashed, and a ChangeRecord
        # ("client.updated", the staff member, the reason they entered with).
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in ADMIN_FIELDS}
        if data:
            services.client_update(
                # The support site admits authenticated staff only.
                tenant=support_tenant(request),
                client_id=obj.id,
                data=data,
                acting_user=cast("User", request.user),
            )
        obj.refresh_from_db()

    def support_record_formset(self, request: HttpRequest, parent: Any, formset: Any) -> None:
        if formset.model is not ClientTag:
            super().support_record_formset(request, parent, formset)
            return
        # As the API records tags: one row per tag added or removed.
        tenant = support_tenant(request)
        removed = len(formset.deleted_objects) + len(formset.changed_objects)
        added = len(formset.new_objects) + len(formset.changed_objects)
        for action, count in (("client.tag_removed", removed), ("client.tag_added", added)):
            for _ in range(count):
                record_change(
                    tenant=tenant, actor=cast("User", request.user), action=action, obj=parent, fields=["tags"]
                )


@admin.register(ClientExternalId)
class ClientExternalIdAdmin(admin.ModelAdmin):
    list_display = ("provider", "external_id", "client", "tenant", "created_at")
    list_filter = ("provider",)
    search_fields = ("external_id", "=client__id")
    list_select_related = ("client", "tenant")
    autocomplete_fields = ("client",)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "created_at")
    search_fields = ("name",)
    list_select_related = ("tenant",)


@admin.register(ClientTag)
class ClientTagAdmin(SupportModelAdminMixin, admin.ModelAdmin):
    list_display = ("client", "tag", "tenant", "created_at")
    search_fields = ("tag__name", "=client__id")
    list_select_related = ("client", "tag", "tenant")
    autocomplete_fields = ("client", "tag")
    fields = ("client", "tag")  # the tenant is the entered one (set on save)
    support_editable_fields = ("client", "tag")


@admin.register(ClientImport)
class ClientImportAdmin(admin.ModelAdmin):
    list_display = ("filename", "row_count", "size_bytes", "job", "tenant", "created_at")
    search_fields = ("filename", "=job__id")
    list_select_related = ("job", "tenant")
    autocomplete_fields = ("job",)
    exclude = ("content",)  # personal data; the job shows what matters
    readonly_fields = ("id", "tenant", "job", "filename", "size_bytes", "row_count", "created_at")


@admin.register(ConsentEvent)
class ConsentEventAdmin(admin.ModelAdmin):
    """The consent ledger is append-only: read here, written only by clients.consent."""

    list_display = ("client_id", "channel", "granted", "decided_at", "origin", "provider", "tenant", "recorded_at")
    list_filter = ("channel", "granted", "origin")
    search_fields = ("=client_id",)
    list_select_related = ("tenant",)
    ordering = ("-decided_at", "id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
