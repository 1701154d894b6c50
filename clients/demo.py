"""Demo clients for `manage.py seed_demo`: ~200 clients with birthdays spread over the year
(a few this week, one on Feb 29), tags, consents and some shared contacts to merge."""

from __future__ import annotations

import datetime
import random

from django.utils import timezone

from clients import consent
from clients.models import Client, ClientExternalId, ClientTag, ConsentEvent, ConsentOrigin, Source, Tag
from clients.normalize import contact_hash
from tenants.context import tenant_context
from tenants.models import Tenant, User

FIRST = [
    "Amy",
    "Bianca",
    "Carmen",
    "Dana",
    "Elena",
    "Farah",
    "Grace",
    "Hana",
    "Isla",
    "Jade",
    "Keiko",
    "Lena",
    "Maya",
    "Nora",
    "Olivia",
    "Priya",
    "Quinn",
    "Rosa",
    "Sofia",
    "Tara",
    "Uma",
    "Vera",
    "Wendy",
    "Ximena",
    "Yara",
    "Zoe",
    "Marcus",
    "Leo",
    "Theo",
    "Sam",
]
LAST = [
    "Adams",
    "Brooks",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Johnson",
    "Kim",
    "Lopez",
    "Martin",
    "Nguyen",
    "Okafor",
    "Patel",
    "Quintero",
    "Reyes",
    "Singh",
    "Torres",
    "Usman",
    "Valdez",
    "Walker",
    "Young",
]
TAGS = ["VIP", "Color", "Bridal", "Balayage", "Lapsed", "Student", "Referral", "Lashes"]
NOTES = [
    "Prefers morning appointments.",
    "Sensitive scalp: patch test first.",
    "Allergic to latex.",
    "Likes oat milk latte.",
    "",
]
COUNT = 200


def seed(*, tenant: Tenant, owner: User) -> None:
    rng = random.Random(f"brandvx-demo-{tenant.id}")
    today = tenant.today()
    now = timezone.now()
    clients: list[Client] = []
    externals: list[ClientExternalId] = []
    decisions: list[ConsentEvent] = []
    with tenant_context(tenant.id, role="system", user_id=owner.id):
        if Client.objects.exists():
            return  # already seeded
        for index in range(COUNT):
            # Spread over the year, with the first few within the coming week.
            day_of_year = (index * 366 // COUNT + rng.randint(0, 1)) % 366 if index >= 6 else index
            birthday = today + datetime.timedelta(days=day_of_year)
            month, day = birthday.month, birthday.day
            if index == 7:
                month, day = 2, 29
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}{index}@example.com".lower()
            phone = f"+1415555{index:04d}"[:12]
            if index % 40 == 39:  # a few who share a family phone with the previous client
                phone = clients[-1].phone
            email_consent = rng.random() < 0.7
            sms_consent = rng.random() < 0.5
            created = now - datetime.timedelta(days=rng.randint(0, 900), minutes=index)
            source = rng.choices([Source.MANUAL, Source.CSV, Source.SQUARE], weights=[5, 2, 3])[0]
            client = Client(
                tenant=tenant,
                first_name=first,
                last_name=last,
                email=email,
                email_hash=contact_hash(email),
                phone=phone,
                phone_hash=contact_hash(phone),
                birthday_month=month,
                birthday_day=day,
                birth_year=rng.choice([None, rng.randint(1960, 2005)]),
                notes=rng.choice(NOTES),
                source=source,
            )
            # Consent goes through the ledger, like every decision (see clients.consent).
            decisions.extend(
                ConsentEvent(
                    tenant=tenant,
                    client_id=client.id,
                    channel=channel,
                    granted=True,
                    decided_at=created,
                    origin=ConsentOrigin.API_USER,
                    acting_user_id=owner.id,
                )
                for channel, granted in (("email", email_consent), ("sms", sms_consent))
                if granted
            )
            if (client.birthday_month, client.birthday_day) == (2, 29) and client.birth_year:
                client.birth_year = 2000  # a real leap year
            clients.append(client)
            if source == Source.SQUARE:
                externals.append(
                    ClientExternalId(
                        tenant=tenant, client=client, provider=Source.SQUARE, external_id=f"SQ-DEMO-{index:04d}"
                    )
                )
        Client.objects.bulk_create(clients)
        ConsentEvent.objects.bulk_create(decisions)
        consent.consent_refresh(tenant=tenant, client_ids=[client.id for client in clients])
        ClientExternalId.objects.bulk_create(externals)
        tags = Tag.objects.bulk_create([Tag(tenant=tenant, name=name) for name in TAGS])
        links = [
            ClientTag(tenant=tenant, client=client, tag=tag)
            for client in clients
            for tag in rng.sample(tags, k=rng.choice([0, 0, 1, 1, 2, 3]))
        ]
        ClientTag.objects.bulk_create(links)
