"""factory_boy factories for integrations' rows. Call them inside `tenant_context(tenant.id,
...)` with `tenant=`: RLS refuses rows written without it.

Connections made here skip `connection_create` on purpose (it enqueues Square's merchant
check on commit): tests that are about connecting use the service or the API."""

import factory
from django.utils import timezone

from integrations.models import CatalogVariation, IntegrationConnection, Provider, WebhookEvent


class IntegrationConnectionFactory(factory.django.DjangoModelFactory[IntegrationConnection]):
    class Meta:
        model = IntegrationConnection

    provider = Provider.SQUARE
    credentials = factory.LazyAttributeSequence(
        lambda o, n: (
            {"access_token": f"sq-access-{n}", "refresh_token": f"sq-refresh-{n}", "expires_at": "2099-01-01T00:00:00Z"}
            if o.provider == Provider.SQUARE
            else {}
        )
    )
    config = factory.LazyFunction(dict)


class WebhookEventFactory(factory.django.DjangoModelFactory[WebhookEvent]):
    """A received event; its object type is the first word of its event type
    ("refund.updated" -> "refund"). `processed=True` also dates it."""

    class Meta:
        model = WebhookEvent

    provider = Provider.SQUARE
    event_id = factory.Sequence(lambda n: f"evt-{n}")
    event_type = "customer.updated"
    object_type = factory.LazyAttribute(lambda o: o.event_type.split(".")[0])
    object_id = factory.Sequence(lambda n: f"OBJ{n:06d}")
    processed = False
    processed_at = factory.LazyAttribute(lambda o: timezone.now() if o.processed else None)


class CatalogVariationFactory(factory.django.DjangoModelFactory[CatalogVariation]):
    class Meta:
        model = CatalogVariation

    provider = Provider.SQUARE
    external_id = factory.Sequence(lambda n: f"VAR{n:06d}")
    item_external_id = factory.Sequence(lambda n: f"ITEM{n:06d}")
    name = "Regular"
    price_amount = 5000
