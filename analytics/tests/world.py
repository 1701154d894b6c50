"""The analytics app's contribution to the two-tenant world."""

import datetime

from django.utils import timezone

from analytics.tests.factories import (
    AppointmentFactory,
    RefundFactory,
    ServiceCategoryFactory,
    ServiceFactory,
    TransactionFactory,
    TransactionLineItemFactory,
)
from tenants.context import tenant_context


def build(world, tenant, owner) -> dict:
    label = tenant.name.replace(" ", "")
    client_id = world.data[_key(world, tenant)]["clients"]["client_id"]
    now = timezone.now()
    with tenant_context(tenant.id, role="system"):
        category = ServiceCategoryFactory.create(tenant=tenant, name=f"Color-{label}")
        service = ServiceFactory.create(
            tenant=tenant, name=f"Balayage-{label}", category=category, price_amount=15000, currency="USD"
        )
        appointment = AppointmentFactory.create(
            tenant=tenant,
            client_id=client_id,
            service=service,
            staff_name="Sam",
            start_at=now - datetime.timedelta(days=3),
            end_at=now - datetime.timedelta(days=3, hours=-2),
            status="completed",
            price_amount=15000,
            currency="USD",
        )
        transaction = TransactionFactory.create(
            tenant=tenant,
            client_id=client_id,
            occurred_at=now - datetime.timedelta(days=3),
            total_amount=15000,
            currency="USD",
            source="square",
            external_id=f"PAY-{label}",
            refunded_amount=1000,
        )
        line = TransactionLineItemFactory.create(
            transaction=transaction, service=service, description="Balayage", amount=15000
        )
        refund = RefundFactory.create(
            transaction=transaction,
            amount=1000,
            currency="USD",
            refunded_at=now - datetime.timedelta(days=2),
            source="square",
            external_id=f"REF-{label}",
        )
    return {
        "category_id": category.id,
        "service_id": service.id,
        "appointment_id": appointment.id,
        "transaction_id": transaction.id,
        "line_item_id": line.id,
        "refund_id": refund.id,
    }


def _key(world, tenant) -> str:
    return "a" if tenant.id == world.tenant_a.id else "b"
