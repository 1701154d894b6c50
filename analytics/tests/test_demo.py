"""The demo data loads, is idempotent, and makes every insight non-trivial."""

import datetime

from analytics import demo, selectors
from analytics.models import Appointment, Service, ServiceCategory, Transaction
from conftest import make_tenant
from tenants.context import tenant_context


def test_demo_seed_makes_a_believable_year(db):
    tenant, owner = make_tenant("Demo", timezone="America/New_York")
    demo.seed(tenant=tenant, owner=owner)
    demo.seed(tenant=tenant, owner=owner)  # a second run adds nothing
    with tenant_context(tenant.id, role="system"):
        assert ServiceCategory.objects.count() == 6 and Service.objects.count() == 19
        assert 1200 <= Transaction.objects.count() <= 1900
        statuses = set(Appointment.objects.values_list("status", flat=True))
        assert statuses == {"booked", "completed", "canceled", "no_show"}
        end = tenant.today()
        result = selectors.dashboard(tenant=tenant, start=end - datetime.timedelta(days=89), end=end)
        report = selectors.revenue_by_service(tenant=tenant, start=end - datetime.timedelta(days=364), end=end)
    assert result["currencies"][0]["revenue"]["current"] > 0
    assert result["no_show_rate"]["current"] > 0 and result["rebooking_rate"]["current"] > 0
    names = {c["category_name"] for c in report["currencies"][0]["categories"]}
    assert "Uncategorized" in names and len(names) == 7  # retail lines are "Other"
