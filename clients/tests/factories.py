"""Factories for client data. Call them inside `tenant_context(tenant.id, ...)`: RLS refuses
rows written without it."""

import factory

from clients.models import Client, Tag
from clients.normalize import contact_hash


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"client{n}@example.com")
    email_hash = factory.LazyAttribute(lambda o: contact_hash(o.email))
    phone = ""
    phone_hash = factory.LazyAttribute(lambda o: contact_hash(o.phone))


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"tag-{n}")
