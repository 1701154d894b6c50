"""Support views of the catalog, appointments and sales (plain ModelAdmins for now: the
lead switches them to the tenants.support.site base, which enters a support context)."""

from django.contrib import admin
from django.http import HttpRequest

from analytics.models import Appointment, Refund, Service, ServiceCategory, Transaction, TransactionLineItem


@admin.register(ServiceCategory)
class ServiceCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "source", "created_at"]
    list_filter = ["source"]
    search_fields = ["name", "external_id"]
    list_select_related = ["tenant"]
    autocomplete_fields = ["tenant"]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "category", "price_amount", "currency", "duration_minutes", "is_active"]
    list_filter = ["is_active", "currency", "source"]
    search_fields = ["name", "external_id"]
    list_select_related = ["tenant", "category"]
    autocomplete_fields = ["tenant", "category"]


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = ["start_at", "tenant", "client", "service", "staff_name", "status", "price_amount", "currency"]
    list_filter = ["status", "source"]
    search_fields = ["external_id", "staff_name", "client__last_name", "client__email"]
    list_select_related = ["tenant", "client", "service"]
    autocomplete_fields = ["tenant", "client", "service"]
    date_hierarchy = "start_at"


class TransactionLineItemInline(admin.TabularInline):
    model = TransactionLineItem
    extra = 0
    autocomplete_fields = ["service"]
    fields = ["service", "description", "quantity", "amount"]


class RefundInline(admin.TabularInline):
    # Read-only: a refund is written with the sale's refunded_amount by analytics.services.
    model = Refund
    extra = 0
    can_delete = False
    fields = readonly_fields = ("refunded_at", "amount", "currency", "source", "external_id")

    def has_add_permission(self, request: HttpRequest, obj: Transaction | None = None) -> bool:
        return False


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = [
        "occurred_at",
        "tenant",
        "client",
        "status",
        "total_amount",
        "refunded_amount",
        "currency",
        "source",
    ]
    list_filter = ["status", "currency", "source"]
    search_fields = ["external_id", "client__last_name", "client__email"]
    list_select_related = ["tenant", "client"]
    autocomplete_fields = ["tenant", "client"]
    date_hierarchy = "occurred_at"
    inlines = [TransactionLineItemInline, RefundInline]
