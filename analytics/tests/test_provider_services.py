"""The one door for what providers send: sales, refunds, the catalog and appointments
(analytics.services' `*_upsert_from_provider` and `refund_upsert`), and the one rule for a
sale's refunded_amount on every path (the API's refund and a provider's alike)."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connections

from analytics import services
from analytics.models import Refund, Transaction
from analytics.records import (
    AppointmentRecord,
    CategoryRecord,
    RefundLine,
    RefundRecord,
    SaleLine,
    SaleRecord,
    ServiceRecord,
)
from analytics.tests import factories as f
from common.errors import Conflict, InvalidInput
from tenants.context import tenant_context

UTC = datetime.UTC
WHEN = datetime.datetime(2025, 5, 1, 10, tzinfo=UTC)


def square_sale(external_id: str = "PAY1", total: int = 10000, **changes) -> SaleRecord:
    values = {
        "source": "square",
        "external_id": external_id,
        "occurred_at": WHEN,
        "status": "completed",
        "total_amount": total,
        "currency": "USD",
    }
    return SaleRecord(**{**values, **changes})


def square_refund(external_id: str, amount: int, *, sale: str = "PAY1", counts: bool = True) -> RefundRecord:
    return RefundRecord(
        source="square",
        external_id=external_id,
        sale_external_id=sale,
        amount=amount,
        refunded_at=WHEN + datetime.timedelta(days=1),
        counts=counts,
    )


def stored(external_id: str = "PAY1") -> tuple[int, str, int]:
    sale = Transaction.objects.get(source="square", external_id=external_id)
    return sale.refunded_amount, sale.status, sale.refunds.count()


def test_a_refund_delivered_twice_counts_once_and_the_api_refund_recounts_with_it(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        assert services.transaction_upsert_from_provider(tenant=a, record=square_sale()) == "created"
        assert services.refund_upsert(tenant=a, record=square_refund("R1", 3000)) == "created"
        # Re-delivered (a webhook, then the sync): by its id, without and with the prefetched row.
        assert services.refund_upsert(tenant=a, record=square_refund("R1", 3000)) == "unchanged"
        existing = Refund.objects.get(external_id="R1")
        assert services.refund_upsert(tenant=a, record=square_refund("R1", 3000), existing=existing) == "unchanged"
        assert stored() == (3000, "completed", 1)
        # The API's refund of the rest: the same recount, so the two add up.
        sale = Transaction.objects.get(external_id="PAY1")
        services.transaction_refund(tenant=a, transaction_id=sale.id)
        assert stored() == (10000, "refunded", 2)
        # A corrected amount, then a refund Square rejected after all: recounted each time.
        assert services.refund_upsert(tenant=a, record=square_refund("R1", 2000)) == "updated"
        assert stored() == (9000, "completed", 2)
        assert services.refund_upsert(tenant=a, record=square_refund("R1", 2000, counts=False)) == "updated"
        assert stored() == (7000, "completed", 1)
        assert services.refund_upsert(tenant=a, record=square_refund("R9", 1, sale="UNKNOWN")) == "skipped"


def test_refunds_that_exceed_the_sale_are_refused_and_nothing_is_kept(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        services.transaction_upsert_from_provider(tenant=a, record=square_sale(total=5000))
        services.refund_upsert(tenant=a, record=square_refund("R1", 4000))
        with pytest.raises(InvalidInput):
            services.refund_upsert(tenant=a, record=square_refund("R2", 2000))
        assert stored() == (4000, "completed", 1)
        # A refund we have, now said to belong to a sale we do not have: refused.
        with pytest.raises(Conflict):
            services.refund_upsert(tenant=a, record=square_refund("R1", 4000, sale="ELSEWHERE"))


def test_a_sale_is_unchanged_without_a_write_and_its_lines_and_refunds_follow_the_record(world):
    a = world.tenant_a
    line = SaleLine(description="Cut", quantity=Decimal("1.000"), amount=9000)
    with tenant_context(a.id, role="system"):
        record = square_sale(lines=(line,), tip_amount=1000)
        assert services.transaction_upsert_from_provider(tenant=a, record=record) == "created"
        sale = Transaction.objects.prefetch_related("line_items").get(external_id="PAY1")
        assert services.transaction_upsert_from_provider(tenant=a, record=record, existing=sale) == "unchanged"
        relined = square_sale(lines=(line, SaleLine(description="Gel", quantity=Decimal(2), amount=1000)))
        assert services.transaction_upsert_from_provider(tenant=a, record=relined) == "updated"
        assert sorted(Transaction.objects.get(external_id="PAY1").line_items.values_list("amount", flat=True)) == [
            1000,
            9000,
        ]
        # A pushed sale lists its refunds: they replace the stored ones, and the status follows.
        pushed = SaleRecord(
            source="custom_crm",
            external_id="T1",
            occurred_at=WHEN,
            status="completed",
            total_amount=5000,
            currency="USD",
            keep_client=False,
            refunds=(RefundLine("a", 2000, WHEN), RefundLine("b", 3000, WHEN)),
        )
        assert services.transaction_upsert_from_provider(tenant=a, record=pushed) == "created"
        crm = Transaction.objects.get(external_id="T1")
        assert (crm.refunded_amount, crm.status) == (5000, "refunded")
        fewer = SaleRecord(**{**pushed.__dict__, "refunds": (RefundLine("a", 2000, WHEN),)})
        assert services.transaction_upsert_from_provider(tenant=a, record=fewer) == "updated"
        crm.refresh_from_db()
        assert (crm.refunded_amount, crm.status, crm.refunds.count()) == (2000, "completed", 1)


def test_the_catalog_and_appointments_come_in_through_their_services(world):
    a = world.tenant_a
    with tenant_context(a.id, role="system"):
        manual = f.category(a, "Hair")
        outcome, adopted = services.service_category_upsert_from_provider(
            tenant=a, record=CategoryRecord(source="square", external_id="C1", name="hair")
        )
        assert (outcome, adopted.id, adopted.external_id) == ("updated", manual.id, "C1")
        item = ServiceRecord(
            source="square", external_id="I1", name="Cut", price_amount=5000, currency="USD", duration_minutes=45
        )
        outcome, service = services.service_upsert_from_provider(tenant=a, record=item)
        assert outcome == "created"
        assert services.service_upsert_from_provider(tenant=a, record=item, existing=service)[0] == "unchanged"
        visit = AppointmentRecord(
            source="acuity",
            external_id="A1",
            start_at=WHEN,
            end_at=WHEN + datetime.timedelta(hours=1),
            status="booked",
            price_amount=5000,
            currency="USD",
        )
        assert services.appointment_upsert_from_provider(tenant=a, record=visit, service_id=service.id) == "created"
        assert services.appointment_upsert_from_provider(tenant=a, record=visit) == "unchanged"


def test_concurrent_deliveries_of_one_refund_and_an_api_refund_count_each_once(committed):
    """A webhook's task and a sync deliver the same refund at once while the owner refunds
    the rest in the app: every writer locks the sale first, so each refund counts once."""
    from conftest import make_tenant

    tenant, _ = make_tenant("Concurrent refunds")
    with tenant_context(tenant.id, role="system"):
        services.transaction_upsert_from_provider(tenant=tenant, record=square_sale(total=10000))
        sale_id = Transaction.objects.get(external_id="PAY1").id
    start = threading.Barrier(3)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            start.wait()
            with tenant_context(tenant.id, role="system"):
                outcomes.append(services.refund_upsert(tenant=tenant, record=square_refund("R1", 4000)))
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)
        finally:
            connections.close_all()

    def refund_in_the_app() -> None:
        try:
            start.wait()
            with tenant_context(tenant.id, role="system"):
                services.transaction_refund(tenant=tenant, transaction_id=sale_id, amount=6000)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver), threading.Thread(target=deliver)]
    threads.append(threading.Thread(target=refund_in_the_app))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(outcomes) == ["created", "unchanged"]
    with tenant_context(tenant.id, role="system"):
        assert stored() == (10000, "refunded", 2)
