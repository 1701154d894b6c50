"""Small builders for analytics tests. Call them inside `tenant_context(tenant.id, ...)`."""

from __future__ import annotations

import datetime
import itertools

from analytics.models import Appointment, Refund, Service, ServiceCategory, Transaction, TransactionLineItem
from clients.models import Client
from tenants.models import Tenant

_counter = itertools.count(1)


def local(tenant: Tenant, year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime.datetime:
    """A wall-clock time where the tenant is."""
    return datetime.datetime(year, month, day, hour, minute, tzinfo=tenant.tzinfo)


def client(tenant: Tenant, name: str = "", created_at: datetime.datetime | None = None) -> Client:
    n = next(_counter)
    person = Client.objects.create(
        tenant=tenant, first_name=name or f"Client{n}", last_name="Test", email=f"c{n}@example.test"
    )
    if created_at is not None:
        Client.objects.filter(id=person.id).update(created_at=created_at)
    return person


def category(tenant: Tenant, name: str) -> ServiceCategory:
    return ServiceCategory.objects.create(tenant=tenant, name=name)


def service(
    tenant: Tenant, name: str, category: ServiceCategory | None = None, price: int = 5000, currency: str = "USD"
) -> Service:
    return Service.objects.create(tenant=tenant, name=name, category=category, price_amount=price, currency=currency)


def sale(
    tenant: Tenant,
    when: datetime.datetime,
    total: int | None = None,
    *,
    currency: str = "USD",
    status: str = "completed",
    refunded: int = 0,
    client: Client | None = None,
    lines: list[tuple[Service | None, int | str, int]] | None = None,
    refunded_at: datetime.datetime | None = None,
    tip: int = 0,
    tax: int = 0,
    discount: int = 0,
) -> Transaction:
    """A transaction; `lines` are (service, quantity, amount). Total defaults to the lines' sum.
    `refunded` is one refund, dated `refunded_at` (default: the sale's time)."""
    lines = lines or []
    total = total if total is not None else sum(amount for _, _, amount in lines)
    row = Transaction.objects.create(
        tenant=tenant,
        occurred_at=when,
        total_amount=total,
        refunded_amount=refunded,
        currency=currency,
        status=status,
        client=client,
        tip_amount=tip,
        tax_amount=tax,
        discount_amount=discount,
    )
    if refunded:
        Refund.objects.create(
            tenant=tenant, transaction=row, amount=refunded, currency=currency, refunded_at=refunded_at or when
        )
    TransactionLineItem.objects.bulk_create(
        [
            TransactionLineItem(tenant=tenant, transaction=row, service=svc, quantity=qty, amount=amount)
            for svc, qty, amount in lines
        ]
    )
    return row


def visit(
    tenant: Tenant,
    when: datetime.datetime,
    *,
    client: Client | None,
    status: str = "completed",
    service: Service | None = None,
) -> Appointment:
    return Appointment.objects.create(
        tenant=tenant,
        client=client,
        service=service,
        start_at=when,
        end_at=when + datetime.timedelta(hours=1),
        status=status,
        price_amount=5000,
        currency="USD",
    )
