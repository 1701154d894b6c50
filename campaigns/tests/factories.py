"""Factories for campaign data (factory_boy), and the small builders the tests call, which
enter the tenant's context around them. A factory itself must be called inside
`tenant_context(tenant.id, ...)`: RLS refuses rows written without it."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import factory

from campaigns.models import CampaignSettings, Channel, MessageDraft, Occasion
from clients import consent
from clients.models import Client, ConsentOrigin
from clients.tests.factories import ClientFactory
from tenants.context import tenant_context
from tenants.models import Tenant

_counter = itertools.count()
# Campaign settings with no quiet hours (equal start and end): for tests about sending itself,
# which must send at whatever hour they run. Quiet hours have their own tests.
NO_QUIET_HOURS = {"sms_window_start": datetime.time(0, 0), "sms_window_end": datetime.time(0, 0)}


class CampaignSettingsFactory(factory.django.DjangoModelFactory[CampaignSettings]):
    """A tenant's settings row (one per tenant): pass `tenant`."""

    class Meta:
        model = CampaignSettings
        django_get_or_create = ("tenant",)


class MessageDraftFactory(factory.django.DjangoModelFactory[MessageDraft]):
    """A birthday draft for `client` (pass `tenant` and `client`), written by the template."""

    class Meta:
        model = MessageDraft

    channel = Channel.SMS
    occasion = Occasion.BIRTHDAY
    occasion_date = datetime.date(2026, 3, 3)
    body = "Happy birthday!"
    status = MessageDraft.Status.DRAFT
    generator = "template"


def make_client(
    tenant: Tenant,
    *,
    birthday: tuple[int, int] | None = (3, 3),
    email_consent: bool = True,
    sms_consent: bool = True,
    email: str | None = None,
    phone: str | None = None,
    first_name: str = "Cleo",
) -> Client:
    """A client with a birthday, whose consent decisions (given or refused) are in the ledger."""
    n = next(_counter)
    with tenant_context(tenant.id, role="system"):
        client: Client = ClientFactory.create(
            tenant=tenant,
            first_name=first_name,
            last_name=f"Client{n}",
            email=f"client{n}@example.test" if email is None else email,
            phone=f"+1415555{n % 10000:04d}" if phone is None else phone,
            birthday_month=birthday[0] if birthday else None,
            birthday_day=birthday[1] if birthday else None,
        )
        # Consent through the ledger, as a user of the app would record it.
        consent.consent_record(
            tenant=tenant,
            client=client,
            decisions={"email": email_consent, "sms": sms_consent},
            origin=ConsentOrigin.API_USER,
        )
        return client


def make_settings(tenant: Tenant, **fields: Any) -> CampaignSettings:
    """The tenant's settings with `fields` set (created, or updated when they exist)."""
    with tenant_context(tenant.id, role="system"):
        row: CampaignSettings = CampaignSettingsFactory.create(tenant=tenant)
        for name, value in fields.items():
            setattr(row, name, value)
        row.save()
        return row


def make_draft(tenant: Tenant, client: Client, **fields: Any) -> MessageDraft:
    with tenant_context(tenant.id, role="system"):
        draft: MessageDraft = MessageDraftFactory.create(tenant=tenant, client=client, **fields)
        return draft
