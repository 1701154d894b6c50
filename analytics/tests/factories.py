"""Factories for analytics data (factory_boy), and small builders on top of them for the
insight tests. Call them inside `tenant_context(tenant.id, ...)`: RLS refuses rows written
without it. The factories write rows as they are given (an importer's way in): the money
rules are the services' (analytics.services) and the database's check constraints.
"""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

import factory
from django.utils import timezone

from analytics.models import Appointment, Refund, Service, ServiceCategory, Transaction, TransactionLineItem
from clients.models import Client
from clients.tests.factories import ClientFactory
from tenants.models import Tenant

_counter = itertools.count(1)


class ServiceCategoryFactory(factory.django.DjangoModelFactory[ServiceCategory]):
    class Meta:
        model = ServiceCategory

    name = factory.Sequence(lambda n: f"Category {n}")


class ServiceFactory(factory.django.DjangoModelFactory[Service]):
    class Meta:
        model = Service

    name = factory.Sequence(lambda n: f"Service {n}")
    price_amount = 5000
    currency = "USD"


class AppointmentFactory(factory.django.DjangoModelFactory[Appointment]):
    class Meta:
        model = Appointment

    start_at = factory.LazyFunction(timezone.now)
    end_at = factory.LazyAttribute(lambda o: o.start_at + datetime.timedelta(hours=1))
    status = Appointment.Status.COMPLETED
    price_amount = 5000
    currency = "USD"


class TransactionFactory(factory.django.DjangoModelFactory[Transaction]):
    class Meta:
        model = Transaction

    occurred_at = factory.LazyFunction(timezone.now)
    total_amount = 5000
    currency = "USD"
    status = Transaction.Status.COMPLETED


class RefundFactory(factory.django.DjangoModelFactory[Refund]):
    """A refund row alone: the sale's refunded_amount is the caller's to keep (`sale` below
    writes both)."""

    class Meta:
        model = Refund

    tenant = factory.SelfAttribute("transaction.tenant")
    amount = 1000
    currency = factory.SelfAttribute("transaction.currency")
    refunded_at = factory.SelfAttribute("transaction.occurred_at")


class TransactionLineItemFactory(factory.django.DjangoModelFactory[TransactionLineItem]):
    class Meta:
        model = TransactionLineItem

    tenant = factory.SelfAttribute("transaction.tenant")
    quantity = Decimal(1)
    amount = 5000


# --- builders for the insight tests --------------------------------------------------------


def local(tenant: Tenant, year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime.datetime:
    """A wall-clock time where the tenant is."""
    return datetime.datetime(year, month, day, hour, minute, tzinfo=tenant.tzinfo)


def client(tenant: Tenant, name: str = "", created_at: datetime.datetime | None = None) -> Client:
    n = next(_counter)
    person: Client = ClientFactory.create(
        tenant=tenant, first_name=name or f"Client{n}", last_name="Test", email=f"c{n}@example.test"
    )
    if created_at is not None:
        Client.objects.filter(id=person.id).update(created_at=created_at)
    return person


def category(tenant: Tenant, name: str) -> ServiceCategory:
    return ServiceCategoryFactory.create(tenant=tenant, name=name)


def service(
    tenant: Tenant, name: str, category: ServiceCategory | None = None, price: int = 5000, currency: str = "USD"
) -> Service:
    return ServiceFactory.create(tenant=tenant, name=name, category=category, price_amount=price, currency=currency)


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
    row = TransactionFactory.create(
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
        RefundFactory.create(transaction=row, amount=refunded, refunded_at=refunded_at or when)
    # One statement for the lines, as the services write them.
    TransactionLineItem.objects.bulk_create(
        [
            TransactionLineItemFactory.build(transaction=row, service=svc, quantity=qty, amount=amount)
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
    return AppointmentFactory.create(tenant=tenant, client=client, service=service, start_at=when, status=status)
