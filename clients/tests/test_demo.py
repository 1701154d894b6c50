import pytest

from clients import demo
from clients.models import Client, ClientTag, ConsentEvent
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


def test_demo_seed_spreads_birthdays_over_the_year(world):
    demo.seed(tenant=world.tenant_a, owner=world.owner_a)
    with tenant_context(world.tenant_a.id, role="system"):
        clients = list(Client.objects.all())
        assert len(clients) == demo.COUNT
        assert len({c.birthday_month for c in clients}) == 12
        assert any((c.birthday_month, c.birthday_day) == (2, 29) for c in clients)
        assert ClientTag.objects.exists()
        assert any(c.email_consent for c in clients) and any(not c.sms_consent for c in clients)
        # Every demo consent is a decision in the ledger.
        assert ConsentEvent.objects.count() == sum(c.email_consent + c.sms_consent for c in clients)
    with tenant_context(world.tenant_b.id, role="system"):
        assert not Client.objects.exists()
    assert world.a.get("/api/v1/clients/birthdays/", {"days_ahead": 7}).json()["count"] >= 5
