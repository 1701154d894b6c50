"""Demo data: campaign settings and a few birthday drafts in different states."""

from __future__ import annotations

import datetime

from campaigns.generators import MessageRequest, TemplateGenerator
from campaigns.models import CampaignSettings, Channel, MessageDraft
from clients.models import Client
from clients.rules import next_birthday
from tenants.context import tenant_context
from tenants.models import Tenant, User


def seed(*, tenant: Tenant, owner: User) -> None:
    with tenant_context(tenant.id, role="system"):
        settings_row, _ = CampaignSettings.objects.get_or_create(
            tenant=tenant,
            defaults={
                "birthday_template": "Happy birthday, {first_name}! Treat yourself this week: {business_name} has a gift waiting for you.",
                "default_channel": Channel.EMAIL,
                "birthday_run_enabled": True,
                "birthday_run_hour": 9,
                "email_reply_to": "hello@demo-salon.test",
            },
        )
        today = tenant.today()
        clients = list(
            Client.objects.filter(tenant=tenant, birthday_month__isnull=False, email_consent=True).exclude(email="")[:6]
        )
        generator = TemplateGenerator()
        drafts = []
        statuses = [MessageDraft.Status.DRAFT] * 4 + [MessageDraft.Status.APPROVED, MessageDraft.Status.DISCARDED]
        for client, status in zip(clients, statuses):
            if client.birthday_month is None or client.birthday_day is None:
                continue  # not chosen: the query asks for a birthday
            occasion = next_birthday(client.birthday_month, client.birthday_day, today)
            message = generator.generate(
                MessageRequest(
                    first_name=client.first_name,
                    last_name=client.last_name,
                    business_name=tenant.name,
                    occasion_date=occasion,
                    channel=Channel.EMAIL,
                    template=settings_row.birthday_template,
                )
            )
            drafts.append(
                MessageDraft(
                    tenant=tenant,
                    client=client,
                    channel=Channel.EMAIL,
                    occasion_date=occasion,
                    body=message.body,
                    generator=message.generator,
                    status=status,
                    approved_by=owner if status == MessageDraft.Status.APPROVED else None,
                    approved_at=datetime.datetime.now(datetime.UTC) if status == MessageDraft.Status.APPROVED else None,
                )
            )
        MessageDraft.objects.bulk_create(drafts, ignore_conflicts=True)
