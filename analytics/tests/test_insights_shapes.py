"""The insight endpoints answer with their selectors' dicts as they are; the serializers are
their schema. Both must write the same JSON, byte for byte, for a believable year of data
in two currencies, every interval, an empty period and a partly refunded sale."""

import datetime

import pytest
from django.utils import timezone

from analytics import demo, selectors
from analytics.api import serializers as s
from analytics.tests.factories import sale
from clients.models import Client
from common.renderers import JSONRenderer
from conftest import make_tenant
from tenants.context import tenant_context
from tenants.testing import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def salon(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        from django.db import transaction

        with transaction.atomic():
            tenant, owner = make_tenant("Shapes", timezone="America/New_York")
            demo.seed(tenant=tenant, owner=owner)
            with tenant_context(tenant.id, role="system"):
                now = timezone.now()
                client = Client.objects.order_by("created_at", "id").first()
                sale(tenant, now - datetime.timedelta(days=3), 12345, currency="EUR", tip=500, tax=100, discount=50)
                sale(tenant, now - datetime.timedelta(days=2), 9999, currency="EUR", refunded=3333, client=client)
            yield tenant, owner
            transaction.set_rollback(True)


CASES = [
    ("dashboard", s.DashboardSerializer, {}),
    ("revenue-by-service", s.RevenueByServiceSerializer, {}),
    ("revenue-timeseries", s.RevenueTimeseriesSerializer, {"interval": "day"}),
    ("revenue-timeseries", s.RevenueTimeseriesSerializer, {"interval": "week"}),
    ("revenue-timeseries", s.RevenueTimeseriesSerializer, {"interval": "month"}),
    ("top-clients", s.TopClientsSerializer, {"limit": 25}),
]


@pytest.mark.parametrize(("path", "serializer", "extra"), CASES)
@pytest.mark.parametrize("days", [364, 30, 0])
def test_selector_dicts_render_as_their_serializers(salon, path, serializer, extra, days):
    tenant, owner = salon
    end = tenant.today()
    start = end - datetime.timedelta(days=days)
    if days == 0:  # a period with nothing in it, long ago
        start = end = datetime.date(2001, 1, 1)
    params = {"start": start.isoformat(), "end": end.isoformat(), **extra}
    response = api_client(owner, tenant=tenant).get(f"/api/v1/analytics/{path}/", params)
    assert response.status_code == 200, response.content
    function = {
        "dashboard": lambda: selectors.dashboard(tenant=tenant, start=start, end=end),
        "revenue-by-service": lambda: selectors.revenue_by_service(tenant=tenant, start=start, end=end),
        "revenue-timeseries": lambda: selectors.revenue_timeseries(
            tenant=tenant, start=start, end=end, interval=extra.get("interval")
        ),
        "top-clients": lambda: selectors.top_clients(tenant=tenant, start=start, end=end, limit=extra.get("limit")),
    }[path]
    with tenant_context(tenant.id, role="owner_admin"):
        expected = JSONRenderer().render(serializer(function()).data)
    assert response.content == expected
    if days == 364:
        body = response.json()
        assert [c["currency"] for c in body["currencies"]][:1] == ["USD"]  # the tenant's first
        assert {c["currency"] for c in body["currencies"]} == {"USD", "EUR"}
