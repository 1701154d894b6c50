"""Reads of client data that are more than a one-liner."""

from __future__ import annotations

import calendar
import datetime
import re
from collections import defaultdict
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Concat, Lower

from clients.conf import limit
from clients.models import Client, ClientExternalId, ClientTag, Tag
from clients.normalize import contact_hash, normalize_email, normalize_phone
from tenants.context import current_tenant_id

MAX_DAYS_AHEAD = 366


@dataclass(frozen=True)
class UpcomingBirthday:
    client: Client
    date: datetime.date  # the day it is celebrated on
    days_until: int
    turning: int | None  # the age reached, when the birth year is known


def celebration_date(month: int, day: int, year: int) -> datetime.date:
    """Feb 29 birthdays are celebrated on Feb 28 in common years."""
    if month == 2 and day == 29 and not calendar.isleap(year):
        return datetime.date(year, 2, 28)
    return datetime.date(year, month, day)


def next_birthday(month: int, day: int, on_or_after: datetime.date) -> datetime.date:
    this_year = celebration_date(month, day, on_or_after.year)
    return this_year if this_year >= on_or_after else celebration_date(month, day, on_or_after.year + 1)


def _window_mmdd(start: datetime.date, end: datetime.date) -> set[int]:
    """Every month*100+day whose birthday is celebrated in [start, end], across new year."""
    values: set[int] = set()
    day = start
    while day <= end:
        values.add(day.month * 100 + day.day)
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            values.add(229)
        day += datetime.timedelta(days=1)
    return values


def birthdays_upcoming(
    *, start: datetime.date, days_ahead: int, clients: QuerySet[Client] | None = None
) -> list[UpcomingBirthday]:
    """Clients of the current tenant whose next birthday falls in [start, start + days_ahead].

    `start` is a local date of the tenant (callers default it to `tenant.today()`). The
    comparison is on month and day only: a birthday is a date in a past year.
    """
    if not 0 <= days_ahead <= MAX_DAYS_AHEAD:
        raise ValueError(f"days_ahead must be between 0 and {MAX_DAYS_AHEAD}")
    end = start + datetime.timedelta(days=days_ahead)
    queryset = clients if clients is not None else Client.objects.all()
    queryset = queryset.filter(
        tenant_id=current_tenant_id(), birthday_mmdd__in=sorted(_window_mmdd(start, end)), archived_at__isnull=True
    )  # deleted at their provider: no birthday messages
    upcoming = []
    for client in queryset:
        occurs = next_birthday(client.birthday_month, client.birthday_day, start)
        if occurs > end:
            continue
        turning = occurs.year - client.birth_year if client.birth_year else None
        upcoming.append(UpcomingBirthday(client, occurs, (occurs - start).days, turning))
    upcoming.sort(key=lambda item: (item.date, item.client.last_name, item.client.first_name, str(item.client.id)))
    return upcoming


# --- the client list -----------------------------------------------------------------------


def client_list(*, tenant_id=None) -> QuerySet[Client]:
    """Clients of the current tenant with what the list shows (tags, external ids) prefetched.

    The prefetches carry the tenant too: it is the second belt behind RLS, and it lets them
    use the tenant-leading indexes instead of a client_id-only scan."""
    tenant_id = tenant_id or current_tenant_id()
    return Client.objects.filter(tenant_id=tenant_id).prefetch_related(
        Prefetch(
            "client_tags",
            queryset=ClientTag.objects.filter(tenant_id=tenant_id).select_related("tag").order_by("tag__name"),
        ),
        Prefetch(
            "external_ids",
            queryset=ClientExternalId.objects.filter(tenant_id=tenant_id).order_by("provider", "external_id"),
        ),
    )


_DIGITS_RE = re.compile(r"\D")


def client_search(queryset: QuerySet[Client], query: str, *, region: str) -> QuerySet[Client]:
    """Match a name (first, last or both, any case), an email (part or whole), or a phone
    written in any format: the query is also normalized as a phone of the tenant's country
    and compared by hash, so `(415) 555-0123` finds `+14155550123`."""
    query = " ".join((query or "").split())
    if not query:
        return queryset
    condition = (
        Q(first_name__icontains=query)
        | Q(last_name__icontains=query)
        | Q(full_name__icontains=query)
        | Q(email__icontains=query)
    )
    try:
        condition |= Q(email_hash=contact_hash(normalize_email(query)))
    except ValidationError:
        pass
    try:
        condition |= Q(phone_hash=contact_hash(normalize_phone(query, region=region)))
    except ValidationError:
        pass
    digits = _DIGITS_RE.sub("", query)
    if len(digits) >= 4 and len(digits) >= len(query.replace(" ", "")) - 4:
        # Mostly digits: a partial number ("555-01") matches inside the stored E.164 form.
        condition |= Q(phone__contains=digits)
    return queryset.alias(full_name=Concat("first_name", Value(" "), "last_name")).filter(condition)


def client_has_tag(queryset: QuerySet[Client], name: str) -> QuerySet[Client]:
    """Clients carrying the tag `name` (any case). EXISTS, not a join: no duplicate rows."""
    tagged = (
        ClientTag.objects.filter(client_id=OuterRef("id"), tenant_id=OuterRef("tenant_id"))
        .alias(tag_name=Lower("tag__name"))
        .filter(tag_name=Lower(Value(" ".join(name.split()))))
    )
    return queryset.filter(Exists(tagged))


def tag_counts() -> QuerySet[Tag]:
    """Tags of the current tenant, each with the number of clients carrying it."""
    return Tag.objects.filter(tenant_id=current_tenant_id()).annotate(client_count=Count("client_tags"))


# --- duplicates --------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateGroup:
    clients: list[Client]  # oldest first: the natural merge target
    reasons: list[str]  # "email" and/or "phone"


def client_duplicates(*, max_groups: int | None = None) -> list[DuplicateGroup]:
    """Groups of clients sharing an email or a phone (by hash), to offer for merging.

    Clients linked through a chain (A shares an email with B, B a phone with C) form one
    group. Families legitimately share a phone or an email: these are suggestions only.
    """
    max_groups = max_groups or limit("CLIENTS_DUPLICATE_GROUPS_MAX")
    tenant_id = current_tenant_id()
    base = Client.objects.filter(tenant_id=tenant_id)
    shared: dict[str, QuerySet] = {}
    for kind in ("email", "phone"):
        column = f"{kind}_hash"
        shared[kind] = (
            base.exclude(**{column: ""}).values(column).annotate(n=Count("id")).filter(n__gt=1).values(column)
        )
    candidates = list(
        base.filter(Q(email_hash__in=shared["email"]) | Q(phone_hash__in=shared["phone"]))
        .prefetch_related(Prefetch("client_tags", queryset=ClientTag.objects.select_related("tag")), "external_ids")
        .order_by("created_at", "id")
    )
    parent = {c.id: c.id for c in candidates}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for kind in ("email", "phone"):
        first_with: dict[str, object] = {}
        for client in candidates:
            value = getattr(client, f"{kind}_hash")
            if not value:
                continue
            if value in first_with:
                parent[find(client.id)] = find(first_with[value])
            else:
                first_with[value] = client.id
    groups: dict[object, list[Client]] = defaultdict(list)
    for client in candidates:
        groups[find(client.id)].append(client)
    result = []
    for members in groups.values():
        if len(members) < 2:
            continue
        reasons = set()
        for kind in ("email", "phone"):
            values = [getattr(c, f"{kind}_hash") for c in members if getattr(c, f"{kind}_hash")]
            if len(values) != len(set(values)):
                reasons.add(kind)
        result.append(DuplicateGroup(clients=members, reasons=sorted(reasons)))
    result.sort(key=lambda g: (g.clients[0].created_at, str(g.clients[0].id)))
    return result[:max_groups]
