"""Changes to the catalog, appointments and transactions: validation, tenancy, refunds."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from analytics import services
from analytics.models import Transaction
from analytics.rules import check_amounts
from analytics.tests import factories as f
from common.errors import Conflict, InvalidInput
from tenants.context import tenant_context
from tenants.errors import TenantContextError

WHEN = datetime.datetime(2025, 5, 1, 18, tzinfo=datetime.UTC)


def parameter_of(caught) -> str:
    return next(iter(caught.value.fields))


@pytest.fixture
def catalog(world):
    """A service and a client in each tenant."""
    a, b = world.tenant_a, world.tenant_b
    with tenant_context(a.id, role="system"):
        world.service_a = f.service(a, "Cut A")
        world.client_a = f.client(a)
    with tenant_context(b.id, role="system"):
        world.service_b = f.service(b, "Cut B")
        world.client_b = f.client(b)
        world.category_b = f.category(b, "Color B")
    return world


def test_transaction_create_with_lines_defaults_total_and_currency(catalog):
    a = catalog.tenant_a
    with tenant_context(a.id, role="staff"):
        sale = services.transaction_create(
            tenant=a,
            occurred_at=WHEN,
            client_id=catalog.client_a.id,
            line_items=[{"service_id": catalog.service_a.id, "amount": 4500, "quantity": "1.5"}, {"amount": 500}],
        )
        lines = list(sale.line_items.order_by("amount"))
    assert (sale.total_amount, sale.currency, sale.status) == (5000, "USD", "completed")
    assert [(line.service_id, line.quantity, line.amount) for line in lines] == [
        (None, Decimal("1.000"), 500),
        (catalog.service_a.id, Decimal("1.500"), 4500),
    ]


@pytest.mark.parametrize(
    "kwargs,parameter",
    [
        ({"currency": "US"}, "currency"),
        ({"currency": "ABC"}, "currency"),  # three letters, but not ISO 4217
        ({"total_amount": 12.5}, "total_amount"),
        ({"total_amount": 12.0}, "total_amount"),
        ({"total_amount": "1250"}, "total_amount"),
        ({"total_amount": -1}, "total_amount"),
        ({"total_amount": True}, "total_amount"),
        ({"line_items": [{"amount": 10.5}]}, "line_items[0].amount"),
        ({"line_items": [{"amount": 100, "quantity": 0}]}, "line_items[0].quantity"),
        ({"line_items": [{"amount": 100, "quantity": "0.0001"}]}, "line_items[0].quantity"),
        ({"line_items": [{"amount": 100}, {"amount": 1, "service_id": "not-a-uuid"}]}, "line_items[1].service"),
        ({"total_amount": 100, "refunded_amount": 101}, "refunded_amount"),
        ({"total_amount": 100, "status": "refunded", "refunded_amount": 50}, "status"),
        ({"total_amount": 100, "status": "lost"}, "status"),
        ({"total_amount": None, "line_items": []}, "total_amount"),
    ],
)
def test_transaction_create_refuses_bad_input_naming_the_field(catalog, kwargs, parameter):
    a = catalog.tenant_a
    with tenant_context(a.id, role="staff"), pytest.raises(InvalidInput) as caught:
        services.transaction_create(tenant=a, occurred_at=WHEN, **{"total_amount": 100, **kwargs})
    assert parameter_of(caught) == parameter


def test_currency_is_normalized_to_upper_case(catalog):
    a = catalog.tenant_a
    with tenant_context(a.id, role="staff"):
        sale = services.transaction_create(tenant=a, occurred_at=WHEN, total_amount=100, currency="eur")
    assert sale.currency == "EUR"


def test_ids_of_another_tenant_are_not_found(catalog):
    """Another tenant's service, client or category: the same "not found" as a random id."""
    a = catalog.tenant_a
    with tenant_context(a.id, role="staff"):
        with pytest.raises(InvalidInput) as caught:
            services.transaction_create(
                tenant=a, occurred_at=WHEN, line_items=[{"amount": 100, "service_id": catalog.service_b.id}]
            )
        assert parameter_of(caught) == "line_items[0].service" and "not found" in str(caught.value.detail)
        with pytest.raises(InvalidInput) as caught:
            services.transaction_create(tenant=a, occurred_at=WHEN, total_amount=1, client_id=catalog.client_b.id)
        assert parameter_of(caught) == "client"
        with pytest.raises(InvalidInput) as caught:
            services.appointment_create(tenant=a, start_at=WHEN, service_id=catalog.service_b.id)
        assert parameter_of(caught) == "service"
        with pytest.raises(InvalidInput) as caught:
            services.service_create(tenant=a, name="Gloss", category_id=catalog.category_b.id)
        assert parameter_of(caught) == "category"
        assert not Transaction.objects.exists()


def test_services_refuse_to_act_outside_their_tenant_context(catalog):
    with tenant_context(catalog.tenant_b.id, role="staff"), pytest.raises(TenantContextError):
        services.service_create(tenant=catalog.tenant_a, name="Sneaky")


def test_full_refund_marks_the_transaction_refunded(catalog):
    a = catalog.tenant_a
    with tenant_context(a.id, role="staff"):
        sale = services.transaction_create(tenant=a, occurred_at=WHEN, total_amount=8000)
        sale = services.transaction_refund(tenant=a, transaction_id=sale.id)
        assert (sale.refunded_amount, sale.status) == (8000, "refunded")
        with pytest.raises(Conflict) as caught:
            services.transaction_refund(tenant=a, transaction_id=sale.id, amount=1)
        assert parameter_of(caught) == "amount"


def test_partial_refunds_add_up_and_cannot_exceed_the_total(catalog):
    a = catalog.tenant_a
    with tenant_context(a.id, role="staff"):
        sale = services.transaction_create(tenant=a, occurred_at=WHEN, total_amount=8000)
        sale = services.transaction_refund(tenant=a, transaction_id=sale.id, amount=3000)
        assert (sale.refunded_amount, sale.status) == (3000, "completed")
        with pytest.raises(InvalidInput) as caught:
            services.transaction_refund(tenant=a, transaction_id=sale.id, amount=5001)
        assert parameter_of(caught) == "amount"
        for bad in (0, -5, 10.0):
            with pytest.raises(InvalidInput):
                services.transaction_refund(tenant=a, transaction_id=sale.id, amount=bad)
        sale = services.transaction_refund(tenant=a, transaction_id=sale.id, amount=5000)
        assert (sale.refunded_amount, sale.status) == (8000, "refunded")
        failed = services.transaction_create(tenant=a, occurred_at=WHEN, total_amount=10, status="failed")
        with pytest.raises(Conflict) as caught:
            services.transaction_refund(tenant=a, transaction_id=failed.id)
        assert parameter_of(caught) == "transaction"


def test_transaction_update_replaces_lines_and_keeps_refund_consistent(catalog):
    a = catalog.tenant_a
    with tenant_context(a.id, role="staff"):
        sale = services.transaction_create(tenant=a, occurred_at=WHEN, line_items=[{"amount": 100}, {"amount": 200}])
        services.transaction_refund(tenant=a, transaction_id=sale.id, amount=250)
        sale = services.transaction_update(
            tenant=a, transaction_id=sale.id, line_items=[{"amount": 300, "service_id": catalog.service_a.id}]
        )
        assert [line.amount for line in sale.line_items.all()] == [300]
        with pytest.raises(InvalidInput) as caught:
            services.transaction_update(tenant=a, transaction_id=sale.id, total_amount=200)
        assert parameter_of(caught) == "refunded_amount"
        with pytest.raises(InvalidInput) as caught:
            services.transaction_update(tenant=a, transaction_id=sale.id, refunded_amount=0)
        assert parameter_of(caught) == "refunded_amount"


def test_external_ids_are_unique_per_source_and_the_error_names_the_field(catalog):
    a = catalog.tenant_a
    with tenant_context(a.id, role="system"):
        services.transaction_create(tenant=a, occurred_at=WHEN, total_amount=1, source="square", external_id="PAY-1")
        services.transaction_create(tenant=a, occurred_at=WHEN, total_amount=1, source="acuity", external_id="PAY-1")
        with pytest.raises(Conflict) as caught:
            services.transaction_create(
                tenant=a, occurred_at=WHEN, total_amount=1, source="square", external_id="PAY-1"
            )
        assert parameter_of(caught) == "external_id"
        assert Transaction.objects.count() == 2  # the transaction survived the refused insert
    with tenant_context(catalog.tenant_b.id, role="system"):  # another tenant may use the same id
        services.transaction_create(
            tenant=catalog.tenant_b, occurred_at=WHEN, total_amount=1, source="square", external_id="PAY-1"
        )


def test_category_names_are_unique_ignoring_case(catalog):
    a = catalog.tenant_a
    with tenant_context(a.id, role="staff"):
        services.service_category_create(tenant=a, name="Color")
        with pytest.raises(Conflict) as caught:
            services.service_category_create(tenant=a, name="color ")
    assert parameter_of(caught) == "name"


def test_service_create_and_update(catalog):
    a = catalog.tenant_a
    with tenant_context(a.id, role="staff"):
        nails = services.service_category_create(tenant=a, name="Nails")
        gel = services.service_create(
            tenant=a, name="Gel manicure", category_id=nails.id, price_amount=4500, duration_minutes=45
        )
        assert (gel.currency, gel.category_id) == ("USD", nails.id)
        gel = services.service_update(tenant=a, service_id=gel.id, category_id=None, price_amount=5000, is_active=False)
        assert (gel.category_id, gel.price_amount, gel.is_active) == (None, 5000, False)
        with pytest.raises(InvalidInput) as caught:
            services.service_update(tenant=a, service_id=gel.id, price_amount=49.99)
        assert parameter_of(caught) == "price_amount"
        with pytest.raises(InvalidInput) as caught:
            services.service_update(tenant=a, service_id=gel.id, tenant_id=catalog.tenant_b.id)
        assert parameter_of(caught) == "tenant_id"


def test_appointment_defaults_from_the_service_and_checks_times(catalog):
    a = catalog.tenant_a
    with tenant_context(a.id, role="staff"):
        booked = services.appointment_create(
            tenant=a, start_at=WHEN, service_id=catalog.service_a.id, client_id=catalog.client_a.id, staff_name="Sam"
        )
        assert booked.end_at - booked.start_at == datetime.timedelta(minutes=60)
        assert (booked.price_amount, booked.currency, booked.status) == (5000, "USD", "booked")
        booked = services.appointment_update(tenant=a, appointment_id=booked.id, status="no_show")
        assert booked.status == "no_show"
        with pytest.raises(InvalidInput) as caught:
            services.appointment_update(tenant=a, appointment_id=booked.id, end_at=WHEN - datetime.timedelta(hours=1))
        assert parameter_of(caught) == "end_at"
        with pytest.raises(InvalidInput) as caught:
            services.appointment_create(tenant=a, start_at=datetime.datetime(2025, 5, 1, 9))  # naive
        assert parameter_of(caught) == "start_at"


@pytest.mark.parametrize(
    ("status", "total", "refunded", "constraint"),
    [
        ("refunded", 4500, 0, "transaction_refunded_means_full"),
        ("completed", 4500, 4501, "transaction_refund_within_total"),
        ("failed", 4500, 100, "transaction_failed_no_refund"),
        # Two constraints refuse a negative total; PostgreSQL reports whichever it checks first.
        ("completed", -1, 0, "transaction_total_not_negative transaction_refund_within_total"),
    ],
)
def test_the_database_refuses_a_sale_that_breaks_the_money_rules(world, status, total, refunded, constraint):
    """The check constraints back analytics.rules.check_amounts for writers that skip it."""
    from django.db import IntegrityError, transaction

    with tenant_context(world.tenant_a.id, role="system"):
        with pytest.raises(IntegrityError) as caught, transaction.atomic():
            Transaction.objects.create(
                tenant=world.tenant_a,
                occurred_at=WHEN,
                status=status,
                total_amount=total,
                refunded_amount=refunded,
                currency="USD",
            )
        assert caught.value.__cause__.diag.constraint_name in constraint.split()
        with pytest.raises(InvalidInput):
            check_amounts(Transaction(status=status, total_amount=total, refunded_amount=refunded))
