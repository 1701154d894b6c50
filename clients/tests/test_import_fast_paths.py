"""The CSV import's shortcuts (issue 29) give exactly what the plain constructions give: a new
client and a consent event built from positional values, a change record row built without a
model instance, a suppression digest from a keyed HMAC copied per value, and a phone read once
per distinct text."""

import datetime
import json

import pytest
from django.core.exceptions import ValidationError
from django.utils.crypto import salted_hmac

from clients import consent, normalize, suppression
from clients.models import Client, ConsentEvent, ConsentOrigin, Source
from clients.services import _client_maker
from tenants import changes
from tenants.context import tenant_context
from tenants.models import ChangeRecord

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2026, 5, 4, 3, 2, 1, tzinfo=datetime.UTC)


def fields_of(instance, *, skip=("id",)) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields if f.attname not in skip}


def test_a_new_client_from_the_maker_is_the_client_keyword_arguments_make(world):
    tenant = world.tenant_a
    made = _client_maker(tenant, Source.CSV)(AT)
    plain = Client(tenant=tenant, source=Source.CSV, created_at=AT, updated_at=AT)
    assert fields_of(made, skip=("id", "birthday_mmdd")) == fields_of(plain, skip=("id", "birthday_mmdd"))
    assert made._state.adding and made.id and made.id != _client_maker(tenant, Source.CSV)(AT).id
    assert "tenant" in made._state.fields_cache and made.tenant is tenant  # no query for it


def test_a_consent_event_from_positional_values_is_the_keyword_one(world):
    tenant = world.tenant_a
    values = dict(
        client_id=tenant.id,
        channel="email",
        granted=True,
        decided_at=AT,
        origin=ConsentOrigin.CSV_IMPORT,
        provider="csv",
        acting_user_id=None,
    )
    made = consent._event(tenant, **values)
    plain = ConsentEvent(tenant=tenant, **values)
    assert fields_of(made) == fields_of(plain)
    assert made.id and made.id != consent._event(tenant, **values).id


def test_change_records_written_in_bulk_are_the_records_record_change_makes(world):
    tenant = world.tenant_a
    actor = changes.Actor.system("csv import")
    with tenant_context(tenant.id, role="system"), changes.change_reason("checking"):
        changes.record_changes_each(
            tenant=tenant,
            actor=actor,
            entries=[("client.updated", "client", tenant.id, ["phone", "email", "phone"])],
            occurred_at=AT,
        )
        written = ChangeRecord.objects.get(occurred_at=AT)
        expected = changes._record(tenant, actor, "client.updated", "client", tenant.id, ["phone", "email", "phone"])
    skip = ("id", "occurred_at")
    assert fields_of(written, skip=skip) == {**fields_of(expected, skip=skip), "fields": ["email", "phone"]}
    assert json.loads(json.dumps(written.fields)) == expected.fields


@pytest.mark.parametrize("fallbacks", [[], ["an-older-key-" + "x" * 40]])
def test_suppression_digests_are_salted_hmacs_under_every_key(settings, fallbacks):
    settings.SECRET_KEY_FALLBACKS = fallbacks
    keys = [settings.SECRET_KEY, *fallbacks]
    for value in ("amy@example.com", "+14155550123", "zoë@example.com"):
        expected = [salted_hmac(suppression._SALT, value, secret=k, algorithm="sha256").hexdigest() for k in keys]
        assert suppression._digests(value) == expected
        assert suppression.digest(value) == expected[0]


def test_a_phone_read_again_gives_the_same_number_and_the_same_refusal():
    normalize._parse_phone.cache_clear()
    assert normalize.split_phone("(415) 555-0123 ext. 42", region="us") == ("+14155550123", "42")
    assert normalize.split_phone("(415) 555-0123 ext. 42", region="US") == ("+14155550123", "42")
    assert normalize._parse_phone.cache_info().hits == 1
    for raw, message in (("12", "'12' is not a valid phone number."), ("abc", "'abc' is not a phone number.")):
        for _ in range(2):
            with pytest.raises(ValidationError) as caught:
                normalize.split_phone(raw, region="US")
            assert caught.value.messages == [message]
    assert normalize.split_phone("020 7946 0018", region="GB") == ("+442079460018", "")
