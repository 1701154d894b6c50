"""Admin for client data. Plain ModelAdmins: admin queries run without a tenant context (and
so see no rows) until the lead switches these to the support-admin base class."""

from django.contrib import admin

from clients.models import Client, ClientExternalId, ClientImport, ClientTag, ConsentEvent, Tag


class ClientTagInline(admin.TabularInline):
    model = ClientTag
    extra = 0
    autocomplete_fields = ("tag",)
    readonly_fields = ("created_at",)


class ClientExternalIdInline(admin.TabularInline):
    model = ClientExternalId
    extra = 0
    readonly_fields = ("created_at",)


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
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
    # Consent is derived from the consent ledger (clients.consent): never edited here.
    readonly_fields = (
        "id",
        "tenant",
        "email_hash",
        "phone_hash",
        "email_consent",
        "email_consent_at",
        "sms_consent",
        "sms_consent_at",
        "created_at",
        "updated_at",
    )
    inlines = [ClientTagInline, ClientExternalIdInline]
    date_hierarchy = "created_at"


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
class ClientTagAdmin(admin.ModelAdmin):
    list_display = ("client", "tag", "tenant", "created_at")
    search_fields = ("tag__name", "=client__id")
    list_select_related = ("client", "tag", "tenant")
    autocomplete_fields = ("client", "tag")


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

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
