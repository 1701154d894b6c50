"""Reads of client data that are more than a one-liner."""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass

from django.db.models import QuerySet

from clients.models import Client
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
    queryset = queryset.filter(tenant_id=current_tenant_id(), birthday_mmdd__in=sorted(_window_mmdd(start, end)))
    upcoming = []
    for client in queryset:
        occurs = next_birthday(client.birthday_month, client.birthday_day, start)
        if occurs > end:
            continue
        turning = occurs.year - client.birth_year if client.birth_year else None
        upcoming.append(UpcomingBirthday(client, occurs, (occurs - start).days, turning))
    upcoming.sort(key=lambda item: (item.date, item.client.last_name, item.client.first_name, str(item.client.id)))
    return upcoming
