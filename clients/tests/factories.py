"""Factories for client data. Call them inside `tenant_context(tenant.id, ...)`: RLS refuses
rows written without it."""

import factory
from django.utils import timezone

from clients import consent
from clients.models import Client, ConsentEvent, ConsentOrigin, Tag
from clients.normalize import contact_hash


class ClientFactory(factory.django.DjangoModelFactory):
    """Consent given here (`email_consent=True`, or a withdrawal: `email_consent=False` with an
    `email_consent_at`) is recorded in the consent ledger, as a decision of `consent_origin`
    at `<channel>_consent_at` (default now), and the client's fields are what the ledger derives."""

    class Meta:
        model = Client

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"client{n}@example.com")
    email_hash = factory.LazyAttribute(lambda o: contact_hash(o.email))
    phone = ""
    phone_hash = factory.LazyAttribute(lambda o: contact_hash(o.phone))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        origin = kwargs.pop("consent_origin", ConsentOrigin.API_USER)
        decisions = {}
        for channel in ("email", "sms"):
            granted = kwargs.pop(f"{channel}_consent", None)
            at = kwargs.pop(f"{channel}_consent_at", None)
            if granted or at is not None:
                decisions[channel] = (bool(granted), at or timezone.now())
        client = super()._create(model_class, *args, **kwargs)
        if decisions:
            ConsentEvent.objects.bulk_create(
                [
                    ConsentEvent(
                        tenant=client.tenant,
                        client_id=client.id,
                        channel=channel,
                        granted=granted,
                        decided_at=at,
                        origin=origin,
                    )
                    for channel, (granted, at) in decisions.items()
                ]
            )
            consent.consent_refresh(tenant=client.tenant, client_ids=[client.id])
            client.refresh_from_db()
        return client


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"tag-{n}")
