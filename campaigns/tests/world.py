"""The campaigns app's contribution to the two-tenant world: settings (with a sender secret)
and a message draft for a client of its own."""

import datetime

from campaigns.models import Channel
from campaigns.tests.factories import CampaignSettingsFactory, MessageDraftFactory
from clients.models import Client
from tenants.context import tenant_context


def build(world, tenant, owner) -> dict:
    label = tenant.name.replace(" ", "")
    secret = f"DraftSecret{label}"
    with tenant_context(tenant.id, role="system"):
        settings_row = CampaignSettingsFactory.create(
            tenant=tenant,
            birthday_template=f"Happy birthday {{first_name}} from {{business_name}} ({label})",
            sms_from_number="+14155550199",
            sender_credentials={"twilio_account_sid": f"AC{label}", "twilio_auth_token": f"token-{label}"},
        )
        client = Client.objects.create(
            tenant=tenant,
            first_name=f"Bea{label}",
            last_name="Campaign",
            email=f"bea@{label.lower()}.test",
            phone="+14155550101",
            birthday_month=7,
            birthday_day=14,
            email_consent=True,
            sms_consent=True,
        )
        draft = MessageDraftFactory.create(
            tenant=tenant,
            client=client,
            channel=Channel.SMS,
            occasion_date=datetime.date(2026, 7, 14),
            body=f"Happy birthday! {secret}",
            generator="template",
        )
    return {
        "campaign_settings_id": settings_row.id,
        "draft_id": draft.id,
        "draft_client_id": client.id,
        "secret": secret,
        "twilio_token": f"token-{label}",
    }
