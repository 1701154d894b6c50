"""Small builders for campaign tests (clients with birthdays, settings, drafts)."""

from __future__ import annotations

import datetime
import itertools

from campaigns.models import CampaignSettings, Channel, MessageDraft
from clients import consent
from clients.models import Client, ConsentOrigin
from tenants.context import tenant_context

_counter = itertools.count()
# Campaign settings with no quiet hours (equal start and end): for tests about sending itself,
# which must send at whatever hour they run. Quiet hours have their own tests.
NO_QUIET_HOURS = {"sms_window_start": datetime.time(0, 0), "sms_window_end": datetime.time(0, 0)}


def make_client(
    tenant,
    *,
    birthday: tuple[int, int] | None = (3, 3),
    email_consent=True,
    sms_consent=True,
    email: str | None = None,
    phone: str | None = None,
    first_name: str = "Cleo",
) -> Client:
    n = next(_counter)
    with tenant_context(tenant.id, role="system"):
        client = Client.objects.create(
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


def make_settings(tenant, **fields) -> CampaignSettings:
    with tenant_context(tenant.id, role="system"):
        row, _ = CampaignSettings.objects.update_or_create(tenant=tenant, defaults=fields)
        return row


def make_draft(
    tenant,
    client,
    *,
    status=MessageDraft.Status.DRAFT,
    channel=Channel.SMS,
    occasion_date=datetime.date(2026, 3, 3),
    body="Happy birthday!",
) -> MessageDraft:
    with tenant_context(tenant.id, role="system"):
        return MessageDraft.objects.create(
            tenant=tenant,
            client=client,
            channel=channel,
            occasion_date=occasion_date,
            body=body,
            status=status,
            generator="template",
        )
