import datetime
from unittest import mock

import pytest

from analytics.models import Appointment, Transaction
from clients import services
from clients.models import Client, ClientExternalId, ClientTag, Tag
from clients.normalize import contact_hash
from clients.tests.factories import ClientExternalIdFactory, ClientFactory
from common.errors import InvalidInput, NotFound
from tenants.context import tenant_context
from tenants.errors import TenantContextError

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2025, 5, 1, 12, 0, tzinfo=datetime.UTC)


def at(instant):
    return mock.patch("django.utils.timezone.now", return_value=instant)


def test_create_normalizes_contacts_in_the_tenants_country(world):
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        client = services.client_create(
            tenant=t, data={"first_name": "  Amy  ", "email": " Amy@Example.COM ", "phone": "(415) 555-0123"}
        )
        t.country = "GB"
        british = services.client_create(tenant=t, data={"first_name": "Bea", "phone": "07911 123456"})
    assert (client.first_name, client.email, client.phone) == ("Amy", "amy@example.com", "+14155550123")
    assert client.email_hash == contact_hash("amy@example.com") and client.phone_hash == contact_hash("+14155550123")
    assert british.phone == "+447911123456"


def test_invalid_email_and_phone_name_their_fields_and_write_nothing(world):
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        with pytest.raises(InvalidInput) as caught:
            services.client_create(tenant=t, data={"first_name": "X", "email": "not-an-email", "phone": "12"})
        assert set(caught.value.fields) == {"email", "phone"}
        with pytest.raises(InvalidInput) as caught:
            services.client_create(tenant=t, data={"birthday_month": 2, "birthday_day": 30})
        assert "birthday_day" in caught.value.fields
        with pytest.raises(InvalidInput) as caught:
            services.client_create(tenant=t, data={"birthday_month": 2, "birthday_day": 29, "birth_year": 1990})
        assert "birth_year" in caught.value.fields
        with pytest.raises(InvalidInput) as caught:
            services.client_create(tenant=t, data={"birth_year": 1990})
        assert "birth_year" in caught.value.fields
        assert Client.objects.count() == 0


def test_consent_changes_are_recorded_with_their_time(world):
    t = world.tenant_a
    t1, t2, t3 = T0, T0 + datetime.timedelta(days=1), T0 + datetime.timedelta(days=2)
    with tenant_context(t.id, role="staff"):
        with at(t1):
            client = services.client_create(
                tenant=t, data={"first_name": "Amy", "email_consent": True, "sms_consent": False}
            )
        assert client.email_consent_at == t1 and client.sms_consent_at is None
        with at(t2):
            client = services.client_update(
                tenant=t, client_id=client.id, data={"sms_consent": True, "email_consent": True}
            )
        assert client.sms_consent and client.sms_consent_at == t2
        assert client.email_consent_at == t1, "an unchanged flag keeps the time of the decision"
        with at(t3):
            services.client_update(tenant=t, client_id=client.id, data={"email_consent": False, "notes": "moved away"})
        client.refresh_from_db()
    assert not client.email_consent and client.email_consent_at == t3, "a withdrawal is a decision too"
    assert client.sms_consent_at == t2 and client.notes == "moved away"


def test_update_and_delete_are_scoped_to_the_tenant(world):
    with tenant_context(world.tenant_b.id, role="system"):
        foreign = ClientFactory(tenant=world.tenant_b)
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        with pytest.raises(NotFound):
            services.client_update(tenant=t, client_id=foreign.id, data={"first_name": "Hacked"})
        with pytest.raises(NotFound):
            services.client_delete(tenant=t, client_id=foreign.id)
    with tenant_context(world.tenant_b.id, role="system"):
        assert Client.objects.get(id=foreign.id).first_name != "Hacked"


def test_a_service_refuses_a_tenant_other_than_the_context(world):
    with tenant_context(world.tenant_a.id, role="staff"):
        with pytest.raises(TenantContextError):
            services.client_create(tenant=world.tenant_b, data={"first_name": "X"})


def test_delete_keeps_the_appointment_history(world):
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        client = ClientFactory(tenant=t)
        visit = Appointment.objects.create(
            tenant=t, client=client, start_at=T0, end_at=T0, currency="USD", price_amount=5000
        )
        services.client_delete(tenant=t, client_id=client.id)
        visit.refresh_from_db()
    assert visit.client_id is None and visit.price_amount == 5000


def test_tag_add_is_idempotent_and_case_insensitive(world):
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        client = ClientFactory(tenant=t)
        first, created = services.client_tag_add(tenant=t, client_id=client.id, name="  VIP  ")
        again, created_again = services.client_tag_add(tenant=t, client_id=client.id, name="vip")
        assert created and not created_again and first.id == again.id
        assert list(Tag.objects.values_list("name", flat=True)) == ["VIP"]
        services.client_tag_remove(tenant=t, client_id=client.id, name="Vip")
        assert not ClientTag.objects.exists() and Tag.objects.count() == 1
        with pytest.raises(services.TagNotFound):
            services.client_tag_remove(tenant=t, client_id=client.id, name="VIP")
        with pytest.raises(services.TagNotFound):
            services.client_tag_remove(tenant=t, client_id=client.id, name="never-existed")
        with pytest.raises(InvalidInput) as caught:
            services.client_tag_add(tenant=t, client_id=client.id, name="a/b")
        assert list(caught.value.fields) == ["name"]


def test_merge_moves_everything_and_loses_nothing(world):
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        target = ClientFactory(
            tenant=t,
            first_name="Amy",
            last_name="",
            email="amy@example.com",
            notes="Likes tea.",
            email_consent=False,
            email_consent_at=T0,
        )
        source = ClientFactory(
            tenant=t,
            first_name="Amelia",
            last_name="Lee",
            email="amy.lee@work.test",
            phone="+14155550123",
            phone_hash=contact_hash("+14155550123"),
            birthday_month=7,
            birthday_day=4,
            birth_year=1991,
            notes="Allergic to latex.",
            email_consent=True,
            email_consent_at=T0 + datetime.timedelta(days=3),
        )
        for name in ("vip", "color"):
            services.client_tag_add(tenant=t, client_id=source.id, name=name)
        services.client_tag_add(tenant=t, client_id=target.id, name="VIP")
        ClientExternalIdFactory(tenant=t, client=source, provider="square", external_id="SQ-1")
        visit = Appointment.objects.create(tenant=t, client=source, start_at=T0, end_at=T0, currency="USD")
        sale = Transaction.objects.create(tenant=t, client=source, occurred_at=T0, total_amount=4200, currency="USD")

        result = services.client_merge(tenant=t, source_id=source.id, target_id=target.id)

        target.refresh_from_db()
        assert not Client.objects.filter(id=source.id).exists()
        assert result.moved["analytics.appointment"] == 1 and result.moved["analytics.transaction"] == 1
        assert Appointment.objects.get(id=visit.id).client_id == target.id
        assert Transaction.objects.get(id=sale.id).client_id == target.id
        assert ClientExternalId.objects.get(external_id="SQ-1").client_id == target.id
        assert sorted(ClientTag.objects.filter(client=target).values_list("tag__name", flat=True)) == ["color", "vip"]
    # The target's values stay; its blanks are filled; both notes are kept.
    assert (target.first_name, target.last_name, target.email) == ("Amy", "Lee", "amy@example.com")
    assert target.phone == "+14155550123" and target.phone_hash == contact_hash("+14155550123")
    assert (target.birthday_month, target.birthday_day, target.birth_year) == (7, 4, 1991)
    assert "Likes tea." in target.notes and "Allergic to latex." in target.notes
    # The later consent decision (the source's) stands.
    assert target.email_consent and target.email_consent_at == T0 + datetime.timedelta(days=3)


def test_merge_keeps_one_of_two_colliding_rows_and_reports_the_other(world):
    from campaigns.models import MessageDraft

    t = world.tenant_a
    day = datetime.date(2025, 6, 1)
    with tenant_context(t.id, role="staff"):
        target, source = ClientFactory(tenant=t), ClientFactory(tenant=t)
        MessageDraft.objects.create(tenant=t, client=target, channel="email", occasion_date=day, body="kept")
        MessageDraft.objects.create(tenant=t, client=source, channel="email", occasion_date=day, body="same occasion")
        moved = MessageDraft.objects.create(
            tenant=t, client=source, channel="email", occasion_date=day.replace(year=2026), body="x"
        )
        result = services.client_merge(tenant=t, source_id=source.id, target_id=target.id)
        assert result.conflicts == {"campaigns.messagedraft": 1}
        assert result.moved["campaigns.messagedraft"] == 1
        assert MessageDraft.objects.get(id=moved.id).client_id == target.id


def test_merge_refuses_itself_and_other_tenants(world):
    with tenant_context(world.tenant_b.id, role="system"):
        foreign = ClientFactory(tenant=world.tenant_b)
    t = world.tenant_a
    with tenant_context(t.id, role="staff"):
        mine = ClientFactory(tenant=t)
        with pytest.raises(services.MergeInvalid):
            services.client_merge(tenant=t, source_id=mine.id, target_id=mine.id)
        # Not found comes first: another tenant's client merged into itself is not found (404),
        # as the API has always answered.
        with pytest.raises(NotFound):
            services.client_merge(tenant=t, source_id=foreign.id, target_id=foreign.id)
        with pytest.raises(NotFound):
            services.client_merge(tenant=t, source_id=foreign.id, target_id=mine.id)
        with pytest.raises(NotFound):
            services.client_merge(tenant=t, source_id=mine.id, target_id=foreign.id)
        assert Client.objects.filter(id=mine.id).exists()
