"""Refunds from the providers become dated Refund rows (Square's own created_at; the custom
CRM's refunded_at); the sale's refunded_amount and status follow them."""

from __future__ import annotations

import datetime

import pytest
import responses

from analytics import selectors
from analytics.models import Refund, Transaction
from integrations.sync import process_square_event
from integrations.tests import fakes
from integrations.tests.factories import WebhookEventFactory
from integrations.tests.helpers import connect, no_wait_policy, resource_counts, sync
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db

D = datetime.date


def in_tenant(tenant):
    return tenant_context(tenant.id, role="system")


def refunds_of(tenant, payment_id: str) -> list[tuple]:
    with in_tenant(tenant):
        return list(
            Refund.objects.filter(transaction__external_id=payment_id)
            .order_by("refunded_at")
            .values_list("external_id", "amount", "refunded_at")
        )


@responses.activate
def test_square_refunds_are_dated_by_square_and_counted_in_their_month(world):
    tenant = world.tenant_a  # Los Angeles
    connection = connect(tenant, "square")
    # Sold on 1 April 2024 (payment 0 of the fakes: 15:00 UTC), refunded in May and June.
    payment = fakes.square_payment(
        0,
        amount=20000,
        tip_money={"amount": 2000, "currency": "USD"},
        refunded_money={"amount": 20000, "currency": "USD"},
    )
    refunds = [
        fakes.square_refund(1, payment_id="PAY000000", amount=5000, created_at="2024-05-10T18:00:00.000Z"),
        fakes.square_refund(2, payment_id="PAY000000", amount=15000, created_at="2024-06-01T06:30:00.000Z"),
        fakes.square_refund(
            3, payment_id="PAY000000", amount=999, created_at="2024-06-02T00:00:00.000Z", status="FAILED"
        ),
        fakes.square_refund(4, payment_id="PAYELSEWHERE", amount=100, created_at="2024-06-02T00:00:00.000Z"),
    ]
    fakes.stub_square(responses.mock, payment_pages=[[payment]], refund_pages=[refunds[:2], refunds[2:]])

    job = sync(tenant, connection)

    assert job.status == "succeeded", job.failure_reason
    assert resource_counts(job, "refunds") == {
        "fetched": 4,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
        "skipped": 2,
    }
    utc = datetime.UTC
    assert refunds_of(tenant, "PAY000000") == [
        ("REF000001_PAY000000", 5000, datetime.datetime(2024, 5, 10, 18, 0, tzinfo=utc)),
        ("REF000002_PAY000000", 15000, datetime.datetime(2024, 6, 1, 6, 30, tzinfo=utc)),
    ]
    with in_tenant(tenant):
        sale = Transaction.objects.get(external_id="PAY000000")
        assert (sale.refunded_amount, sale.status, sale.tip_amount) == (20000, "refunded", 2000)
        april = selectors.dashboard(tenant=tenant, start=D(2024, 4, 1), end=D(2024, 4, 30))
        may = selectors.dashboard(tenant=tenant, start=D(2024, 5, 1), end=D(2024, 5, 31))
        # 06:30 UTC on 1 June is 23:30 on 31 May in Los Angeles: a May refund.
        june = selectors.dashboard(tenant=tenant, start=D(2024, 6, 1), end=D(2024, 6, 30))
    usd = [c for c in april["currencies"] if c["currency"] == "USD"][0]
    assert (usd["revenue"]["current"], usd["tips"]["current"], usd["transactions"]["current"]) == (20000, 2000, 1)
    may_usd = may["currencies"][0]
    assert (may_usd["revenue"]["current"], may_usd["tips"]["current"]) == (-20000, -2000)
    assert june["currencies"][0]["revenue"]["current"] == 0

    # A second run with nothing new writes nothing.
    job = sync(tenant, connection)
    assert resource_counts(job, "refunds")["created"] == resource_counts(job, "refunds")["updated"] == 0


@responses.activate
def test_square_refunds_replace_the_migrated_estimate_and_a_failed_refund_is_removed(world):
    tenant = world.tenant_b
    connection = connect(tenant, "square")
    with in_tenant(tenant):
        sale = Transaction.objects.create(
            tenant=tenant,
            occurred_at=datetime.datetime(2024, 4, 2, 15, tzinfo=datetime.UTC),
            total_amount=15000,
            refunded_amount=4000,
            currency="USD",
            source="square",
            external_id="PAY000001",
        )
        # What the refunds migration wrote for it: dated at the sale, no external id.
        Refund.objects.create(
            tenant=tenant, transaction=sale, amount=4000, currency="USD", refunded_at=sale.occurred_at, source="square"
        )
    exact = fakes.square_refund(1, payment_id="PAY000001", amount=4000, created_at="2024-04-20T01:00:00Z")
    fakes.stub_square(responses.mock, payment_pages=[[fakes.square_payment(1)]], refund_pages=[[exact]])
    assert sync(tenant, connection).status == "succeeded"
    assert refunds_of(tenant, "PAY000001") == [
        ("REF000001_PAY000001", 4000, datetime.datetime(2024, 4, 20, 1, tzinfo=datetime.UTC)),
    ]

    # Square later reports the refund as failed (webhook): it is removed, the sale whole again.
    responses.add(
        responses.GET, f"{fakes.SQUARE}/v2/refunds/REF000001_PAY000001", json={"refund": {**exact, "status": "FAILED"}}
    )
    with in_tenant(tenant):
        event = WebhookEventFactory.create(tenant=tenant, event_type="refund.updated", object_id="REF000001_PAY000001")
    assert process_square_event(tenant_id=tenant.id, event_id=event.id, policy=no_wait_policy()) == "updated"
    assert refunds_of(tenant, "PAY000001") == []
    with in_tenant(tenant):
        assert Transaction.objects.filter(external_id="PAY000001").values_list("refunded_amount", "status").get() == (
            0,
            "completed",
        )


def test_custom_crm_transactions_carry_dated_refunds_and_parts(world):
    from rest_framework.test import APIClient

    api = world.a
    key = api.post("/api/v1/integrations/", {"provider": "custom_crm"}, format="json").json()["api_key"]
    crm = APIClient()
    body = {
        "transactions": [
            {
                "external_id": "T1",
                "occurred_at": "2025-01-30T20:00:00Z",
                "total_amount": 12000,
                "tip_amount": 1500,
                "tax_amount": 500,
                "refunds": [{"external_id": "R1", "amount": 2000, "refunded_at": "2025-02-03T18:00:00Z"}],
            },
            {
                "external_id": "T2",
                "occurred_at": "2025-01-30T21:00:00Z",
                "total_amount": 3000,
                "status": "refunded",
                "refunded_amount": 3000,
                "refunded_at": "2025-02-04T18:00:00Z",
            },
            {
                "external_id": "T3",
                "occurred_at": "2025-01-30T21:00:00Z",
                "total_amount": 3000,
                "refunds": [{"amount": 3001, "refunded_at": "2025-02-04T18:00:00Z"}],
            },
            {"external_id": "T4", "occurred_at": "2025-01-30T21:00:00Z", "total_amount": 100, "tip_amount": 101},
        ]
    }
    response = crm.post("/api/v1/integrations/custom_crm/import/", body, format="json", HTTP_X_BRANDVX_KEY=key)
    assert response.status_code == 200, response.content
    result = response.json()["transactions"]
    assert (result["created"], result["failed"]) == (2, 2)
    assert {e["external_id"] for e in result["errors"]} == {"T3", "T4"}
    a = world.tenant_a
    assert [(r[0], r[1]) for r in refunds_of(a, "T1")] == [("R1", 2000)]
    assert [(r[0], r[1]) for r in refunds_of(a, "T2")] == [("", 3000)]
    with in_tenant(a):
        assert list(
            Transaction.objects.filter(source="custom_crm")
            .order_by("external_id")
            .values_list("external_id", "refunded_amount", "status", "tip_amount", "tax_amount")
        ) == [("T1", 2000, "completed", 1500, 500), ("T2", 3000, "refunded", 0, 0)]
        february = selectors.dashboard(tenant=a, start=D(2025, 2, 1), end=D(2025, 2, 28))
    assert february["currencies"][0]["refunds"]["current"] == 5000
    # The same push again changes nothing; a corrected refund list replaces the old one.
    again = crm.post("/api/v1/integrations/custom_crm/import/", body, format="json", HTTP_X_BRANDVX_KEY=key).json()
    assert (again["transactions"]["unchanged"], again["transactions"]["updated"]) == (2, 0)
    fixed = {"transactions": [{**body["transactions"][0], "refunds": []}]}
    crm.post("/api/v1/integrations/custom_crm/import/", fixed, format="json", HTTP_X_BRANDVX_KEY=key)
    assert refunds_of(a, "T1") == []
