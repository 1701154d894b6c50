"""Factories for client data. Call them inside `tenant_context(tenant.id, ...)`: RLS refuses
rows written without it."""

import factory
from django.utils import timezone

from clients import consent
from clients.models import Client, ClientExternalId, ClientImport, ClientTag, ConsentEvent, ConsentOrigin, Source, Tag
from clients.normalize import contact_hash
from tenants.models import BackgroundJob


class ClientFactory(factory.django.DjangoModelFactory[Client]):
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


class TagFactory(factory.django.DjangoModelFactory[Tag]):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"tag-{n}")


class ClientTagFactory(factory.django.DjangoModelFactory[ClientTag]):
    """A tag on a client (the tag is made in the client's tenant unless given)."""

    class Meta:
        model = ClientTag

    client = factory.SubFactory(ClientFactory)
    tenant = factory.SelfAttribute("client.tenant")
    tag = factory.SubFactory(TagFactory, tenant=factory.SelfAttribute("..tenant"))


class ClientExternalIdFactory(factory.django.DjangoModelFactory[ClientExternalId]):
    """The id a provider knows a client by."""

    class Meta:
        model = ClientExternalId

    client = factory.SubFactory(ClientFactory)
    tenant = factory.SelfAttribute("client.tenant")
    provider = Source.SQUARE
    external_id = factory.Sequence(lambda n: f"SQ-{n}")


class ClientImportFactory(factory.django.DjangoModelFactory[ClientImport]):
    """An uploaded CSV held for its import job (a queued job of the import's kind is made
    with it unless given)."""

    class Meta:
        model = ClientImport

    job = factory.LazyAttribute(
        lambda o: BackgroundJob.objects.create(
            tenant=o.tenant, kind="clients.import_csv", params={"filename": o.filename}
        )
    )
    filename = factory.Sequence(lambda n: f"clients-{n}.csv")
    content = "first_name\nAda\n"
    size_bytes = factory.LazyAttribute(lambda o: len(o.content.encode()))
    row_count = factory.LazyAttribute(lambda o: max(len(o.content.splitlines()) - 1, 0))
