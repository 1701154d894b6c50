"""Two transactions of one tenant that write sales of the same local day at the same time.

The insight triggers recompute each day a statement touched from the rows (docs/insights.md,
"How the figures are kept"): delete the day's aggregate rows, insert them again. Two such
recomputations of one day at once collided on the aggregates' unique keys (the second
transaction's insert met the first one's rows once it committed). Each tenant's refreshes now
take turns (a transaction-level advisory lock per tenant, taken before a statement writes the
rows the triggers read): the second write waits for the first to commit, then recomputes
the day with both sales. Outside any test transaction: the collision only shows between
committed transactions on two connections."""

from __future__ import annotations

import datetime
import threading
import time

from django.db import connections

from analytics import selectors, services
from conftest import make_tenant
from tenants.context import tenant_context

DAY = datetime.datetime(2026, 3, 14, 15, 0, tzinfo=datetime.UTC)


def test_two_sales_of_one_day_written_at_once_are_both_counted(committed):
    tenant, _ = make_tenant("Concurrent sales")
    with tenant_context(tenant.id, role="system"):
        # The tenant's aggregates exist (its first write builds them).
        services.transaction_create(tenant=tenant, occurred_at=DAY, total_amount=1000)
    first_written, first_may_commit = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with tenant_context(tenant.id, role="system"):
                services.transaction_create(
                    tenant=tenant, occurred_at=DAY + datetime.timedelta(hours=1), total_amount=2000
                )
                first_written.set()
                first_may_commit.wait(timeout=30)
        except BaseException as exc:  # reported below
            errors.append(exc)
            first_written.set()
        finally:
            connections.close_all()

    def second() -> None:
        try:
            first_written.wait(timeout=30)
            with tenant_context(tenant.id, role="system"):
                services.transaction_create(
                    tenant=tenant, occurred_at=DAY + datetime.timedelta(hours=2), total_amount=4000
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_written.wait(timeout=30)
    time.sleep(0.5)  # the second transaction is writing its sale while the first is open
    first_may_commit.set()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    day = DAY.date()
    with tenant_context(tenant.id, role="system"):
        assert selectors.aggregates_ready(tenant=tenant)
        kept = selectors.dashboard(tenant=tenant, start=day, end=day)
        raw = selectors.dashboard_raw(tenant=tenant, start=day, end=day)
    assert kept == raw
    assert kept["currencies"][0]["gross_sales"]["current"] == 7000
    assert kept["transactions"]["current"] == 3
