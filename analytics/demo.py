"""A year of believable salon activity for the demo tenant (`manage.py seed_demo`).

Six categories, twenty services, ~1,700 appointments (no-shows, cancellations, upcoming
bookings) and ~1,500 sales with line items (retail add-ons, a few refunds and failed
card payments). Deterministic (seeded), bulk-inserted: a second or two.
"""

from __future__ import annotations

import datetime
import random

from analytics.models import Appointment, Refund, Service, ServiceCategory, Transaction, TransactionLineItem
from clients.models import Client
from tenants.context import tenant_context
from tenants.models import Tenant, User

CATALOG = {
    "Cuts & Styling": [("Women's cut", 45, 6500), ("Men's cut", 30, 3500), ("Blow-dry", 45, 4500), ("Updo", 60, 8500)],
    "Color": [
        ("Balayage", 180, 22000),
        ("Root touch-up", 90, 9500),
        ("Full highlights", 150, 18000),
        ("Gloss", 45, 5500),
    ],
    "Treatments": [("Keratin smoothing", 150, 25000), ("Deep conditioning", 30, 3000), ("Scalp treatment", 45, 4500)],
    "Nails": [("Gel manicure", 45, 4500), ("Pedicure", 60, 5500), ("Nail art", 30, 2000)],
    "Brows & Lashes": [("Brow shaping", 20, 2500), ("Lash lift", 60, 8000), ("Brow tint", 20, 2000)],
    "Skin": [("Signature facial", 60, 11000), ("Express facial", 30, 6000)],
}
# Sold at the desk, with no service: reported as "Other" in revenue by service.
RETAIL = [("Shampoo", 2800), ("Conditioner", 2800), ("Hair oil", 3600), ("Cuticle oil", 1400)]
STAFF = ["Maya", "Jordan", "Priya", "Luis", "Sam"]
FIRST = [
    "Ava",
    "Mia",
    "Noah",
    "Liam",
    "Zoe",
    "Emma",
    "Lucas",
    "Ella",
    "Chloe",
    "Aria",
    "Leo",
    "Ivy",
    "Nora",
    "Ruby",
    "Theo",
]
LAST = ["Garcia", "Smith", "Nguyen", "Patel", "Kim", "Rossi", "Brown", "Lopez", "Cohen", "Okafor", "Silva", "Martin"]


def seed(*, tenant: Tenant, owner: User) -> None:
    rng = random.Random(20250101)
    with tenant_context(tenant.id, role="system"):
        if Service.objects.exists():
            return  # already seeded
        clients = list(Client.objects.all()[:400]) or _clients(tenant, rng)
        services = _catalog(tenant)
        appointments, sales, lines = _year(tenant, rng, clients, services)
        Appointment.objects.bulk_create(appointments, batch_size=1000)
        Transaction.objects.bulk_create(sales, batch_size=1000)
        TransactionLineItem.objects.bulk_create(lines, batch_size=1000)
        Refund.objects.bulk_create(_refunds(tenant, rng, sales), batch_size=1000)


def _refunds(tenant: Tenant, rng: random.Random, sales: list[Transaction]) -> list[Refund]:
    """The sales' refunds as dated records, a few days after the sale (never in the future)."""
    now = datetime.datetime.now(datetime.UTC)
    return [
        Refund(
            tenant=tenant,
            transaction=sale,
            amount=sale.refunded_amount,
            currency=sale.currency,
            refunded_at=min(
                now, sale.occurred_at + datetime.timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 8))
            ),
        )
        for sale in sales
        if sale.refunded_amount
    ]


def _clients(tenant: Tenant, rng: random.Random) -> list[Client]:
    """Only when the clients app seeded none: enough people to make the figures move."""
    people = []
    for n in range(150):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        people.append(
            Client(tenant=tenant, first_name=first, last_name=last, email=f"{first}.{last}.{n}@example.com".lower())
        )
    Client.objects.bulk_create(people)
    # Spread sign-ups over the year so "new clients" has a history (created_at is auto_now_add).
    now = datetime.datetime.now(datetime.UTC)
    for person in people:
        person.created_at = now - datetime.timedelta(days=rng.randint(0, 400))
    Client.objects.bulk_update(people, ["created_at"])
    return people


def _catalog(tenant: Tenant) -> list[Service]:
    categories = [ServiceCategory(tenant=tenant, name=name) for name in CATALOG]
    ServiceCategory.objects.bulk_create(categories)
    services = [
        Service(
            tenant=tenant,
            name=name,
            category=category,
            duration_minutes=minutes,
            price_amount=price,
            currency=tenant.currency,
        )
        for category, items in zip(categories, CATALOG.values(), strict=True)
        for name, minutes, price in items
    ]
    Service.objects.bulk_create(services)
    return services


def _year(
    tenant: Tenant, rng: random.Random, clients: list[Client], services: list[Service]
) -> tuple[list[Appointment], list[Transaction], list[TransactionLineItem]]:
    tz = tenant.tzinfo
    today = tenant.today()
    # Regulars come back often; most clients a few times a year.
    weights = [rng.choice((1, 1, 2, 3, 8)) for _ in clients]
    popular = [5 if s.price_amount < 7000 else 2 for s in services]
    appointments: list[Appointment] = []
    sales: list[Transaction] = []
    lines: list[TransactionLineItem] = []
    for offset in range(-365, 22):
        day = today + datetime.timedelta(days=offset)
        if day.weekday() == 0:  # closed on Mondays
            continue
        busy = 4 if day.weekday() < 4 else 7
        for _ in range(rng.randint(busy - 2, busy + 1)):
            client = rng.choices(clients, weights)[0] if rng.random() > 0.05 else None  # some walk-ins
            service = rng.choices(services, popular)[0]
            start = datetime.datetime.combine(
                day, datetime.time(rng.randint(9, 18), rng.choice((0, 15, 30, 45))), tzinfo=tz
            )
            status = _status(rng, offset)
            appointments.append(
                Appointment(
                    tenant=tenant,
                    client=client,
                    service=service,
                    staff_name=rng.choice(STAFF),
                    start_at=start,
                    end_at=start + datetime.timedelta(minutes=service.duration_minutes),
                    status=status,
                    price_amount=service.price_amount,
                    currency=service.currency,
                )
            )
            if status == Appointment.Status.COMPLETED:
                _sale(
                    tenant,
                    rng,
                    client,
                    service,
                    start + datetime.timedelta(minutes=service.duration_minutes),
                    sales,
                    lines,
                )
    return appointments, sales, lines


def _status(rng: random.Random, offset: int) -> str:
    if offset > 0:
        return Appointment.Status.CANCELED if rng.random() < 0.05 else Appointment.Status.BOOKED
    roll = rng.random()
    if roll < 0.06:
        return Appointment.Status.NO_SHOW
    if roll < 0.14:
        return Appointment.Status.CANCELED
    return Appointment.Status.COMPLETED


def _sale(
    tenant: Tenant,
    rng: random.Random,
    client: Client | None,
    service: Service,
    when: datetime.datetime,
    sales: list[Transaction],
    lines: list[TransactionLineItem],
) -> None:
    sale = Transaction(tenant=tenant, client=client, occurred_at=when, currency=service.currency, total_amount=0)
    items = [
        TransactionLineItem(
            tenant=tenant, transaction=sale, service=service, description=service.name, amount=service.price_amount
        )
    ]
    if rng.random() < 0.2:
        name, price = rng.choice(RETAIL)
        quantity = rng.choice((1, 1, 2))
        items.append(
            TransactionLineItem(
                tenant=tenant, transaction=sale, description=name, quantity=quantity, amount=price * quantity
            )
        )
    sale.total_amount = sum(item.amount for item in items)
    roll = rng.random()
    if roll < 0.01:
        sale.status = Transaction.Status.FAILED
    elif roll < 0.025:
        sale.status, sale.refunded_amount = Transaction.Status.REFUNDED, sale.total_amount
    elif roll < 0.045:
        sale.refunded_amount = sale.total_amount // 4  # a goodwill partial refund
    sales.append(sale)
    lines.extend(items)
