"""The importers map; the domains write. A page re-imported unchanged writes nothing (no
INSERT, UPDATE or DELETE) and costs its prefetch and one savepoint, not a statement per
record, whichever domain owns the rows; the mappers turn provider records into typed
records without a database."""

from __future__ import annotations

import datetime
import re
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.records import SaleLine
from integrations.importers.base import ClientImporter, RecordError, import_page
from integrations.importers.custom_crm import sale_from_custom
from integrations.importers.square import (
    SquarePaymentImporter,
    contact_from_square,
    refund_from_square,
    sale_from_square_payment,
)
from integrations.tests import fakes
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if WRITE.match(q["sql"])]


def test_an_unchanged_page_of_customers_and_payments_writes_nothing(world):
    tenant = world.tenant_a
    customers = [fakes.square_customer(n) for n in range(1, 21)]
    payments = [fakes.square_payment(n) for n in range(1, 11)]

    def customers_page():
        importer = ClientImporter(
            tenant=tenant, provider="square", to_contact=lambda raw: contact_from_square(raw, region=tenant.country)
        )
        return import_page(importer, customers, resource="customers")

    def payments_page():
        return import_page(SquarePaymentImporter(tenant=tenant), payments, resource="payments")

    with tenant_context(tenant.id, role="system"):
        assert (customers_page().created, payments_page().created) == (20, 10)
        with CaptureQueriesContext(connection) as queries:
            again = (customers_page().unchanged, payments_page().unchanged)
    assert again == (20, 10)
    assert writes(queries) == []
    assert len(queries.captured_queries) < 30, [q["sql"] for q in queries.captured_queries]


def test_the_mappers_give_typed_records_without_the_database():
    client_id, service_id = uuid.uuid4(), uuid.uuid4()
    payment = fakes.square_payment(1, customer_id="CUST1")
    order = {
        "line_items": [{"name": "Cut", "quantity": "1", "total_money": {"amount": 9000}, "catalog_object_id": "V1"}]
    }
    with pytest.MonkeyPatch.context() as patch:
        # No query may run: a mapper that touches the database fails here.
        patch.setattr(connection, "cursor", lambda *a, **k: pytest.fail("a mapper touched the database"))
        sale = sale_from_square_payment(
            payment, order=order, client_ids={"CUST1": client_id}, variation_services={"V1": service_id}
        )
        refund = refund_from_square(
            fakes.square_refund(1, payment_id=payment["id"], amount=500, created_at="2024-04-20T01:00:00Z")
        )
        pushed = sale_from_custom(
            {"external_id": "T1", "total_amount": 1000, "occurred_at": "2025-01-02T10:00:00Z", "refunded_amount": 200},
            currency="USD",
            client_ids={},
        )
        with pytest.raises(RecordError):
            sale_from_custom({"external_id": "T2", "total_amount": 12.5}, currency="USD", client_ids={})
    assert sale is not None and sale.client_id == client_id and sale.source == "square"
    assert sale.lines == (SaleLine(description="Cut", quantity=Decimal("1.000"), amount=9000, service_id=service_id),)
    assert (refund.sale_external_id, refund.amount, refund.counts) == (payment["id"], 500, True)
    assert pushed.refunds is not None and [r.amount for r in pushed.refunds] == [200]
    assert pushed.refunds[0].refunded_at == datetime.datetime(2025, 1, 2, 10, tzinfo=datetime.UTC)


def test_a_record_the_database_refuses_fails_alone_and_the_rest_of_the_page_is_kept(world):
    """The page goes first in one savepoint; the refused record rolls it back, and the page
    is imported again record by record: the others are written once, and counted once."""
    from analytics.models import Transaction
    from integrations.inbound import custom_crm_import
    from integrations.tests.helpers import connect

    tenant = world.tenant_a
    connection = connect(tenant, "custom_crm")
    sale = {"total_amount": 4500, "currency": "USD", "occurred_at": "2024-05-01T10:00:00Z"}
    payload = {
        "transactions": [
            {**sale, "external_id": "t-1"},
            {**sale, "external_id": "t-" + "x" * 300},  # longer than the column: the database says no
            {**sale, "external_id": "t-2", "refunded_amount": 500},
        ]
    }

    body = custom_crm_import(tenant_id=tenant.id, connection_id=connection.id, payload=payload)["transactions"]

    assert (body["created"], body["failed"]) == (2, 1), body
    assert body["errors"][0]["reason"] == "the database refused the record (DataError)"
    with tenant_context(tenant.id, role="system"):
        assert dict(Transaction.objects.values_list("external_id", "refunded_amount")) == {"t-1": 0, "t-2": 500}
