"""The integrations app's contribution to the two-tenant world."""

from integrations.merchants import square_merchant_record
from integrations.models import IntegrationConnection
from integrations.services import connection_create
from integrations.tests.factories import CatalogVariationFactory, IntegrationConnectionFactory, WebhookEventFactory
from tenants.context import tenant_context


def build(world, tenant, owner) -> dict:
    label = tenant.name.replace(" ", "")
    secret = f"sq-access-SECRET-{label}-5f1c9e"
    merchant_id = f"MERCHANT-{label}-{tenant.id.hex[:8]}"
    with tenant_context(tenant.id, role="system"):
        # Created directly: connection_create would enqueue the merchant check on commit, and
        # committed worlds would leave those tasks in the broker for the worker tests.
        square = IntegrationConnectionFactory.create(
            tenant=tenant,
            provider="square",
            credentials={
                "access_token": secret,
                "refresh_token": f"sq-refresh-{label}",
                "expires_at": "2099-01-01T00:00:00Z",
            },
        )
        # What verifying the token with Square records (a request cannot set it).
        square_merchant_record(
            tenant_id=tenant.id, connection_id=square.id, merchant_id=merchant_id, access_token=secret
        )
        crm, one_time = connection_create(
            tenant=tenant, provider="custom_crm", credentials={}, config={}, acting_user=owner
        )
        event = WebhookEventFactory.create(
            tenant=tenant,
            event_id=f"evt-{label}",
            event_type="customer.updated",
            object_id=f"CUST-{label}",
            processed=True,
        )
        variation = CatalogVariationFactory.create(
            tenant=tenant,
            external_id=f"VAR-{label}",
            item_external_id=f"ITEM-{label}",
            name="Regular",
            price_amount=5000,
        )
        IntegrationConnection.objects.filter(id=square.id).update(
            cursors={"customers": {"updated_since": "2025-01-01T00:00:00Z"}}
        )
    return {
        "connection_id": square.id,
        "custom_crm_connection_id": crm.id,
        "api_key": one_time["api_key"],
        "webhook_event_id": event.id,
        "catalog_variation_id": variation.id,
        "merchant_id": merchant_id,
        "secret": secret,
    }
