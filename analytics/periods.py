"""The periods of the insights: local dates of the business, turned into instants once.

A period is `[start 00:00 local, end + 1 day 00:00 local)` in the tenant's time zone
(docs/insights.md, "Periods and time zones"). Pure: no query, no tenant scope (a tenant is
only read for its time zone).
"""

from __future__ import annotations

import datetime

from analytics.rules import MAX_RANGE_YEARS
from common.errors import InvalidInput
from tenants.models import Tenant


def _add_years(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # Feb 29 -> Feb 28
        return day.replace(year=day.year + years, day=28)


def validate_period(start: datetime.date, end: datetime.date) -> None:
    """The rules for every insight's period; errors name the parameter."""
    if start > end:
        raise InvalidInput("end", "must be on or after start.")
    if end >= _add_years(start, MAX_RANGE_YEARS):
        raise InvalidInput("end", f"the period may be at most {MAX_RANGE_YEARS} years long.")


def local_bounds(
    tenant: Tenant, start: datetime.date, end: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """[start 00:00, end + 1 day 00:00) in the tenant's time zone, as UTC instants."""
    tz = tenant.tzinfo
    begin = datetime.datetime.combine(start, datetime.time.min, tzinfo=tz)
    finish = datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)
    return begin.astimezone(datetime.UTC), finish.astimezone(datetime.UTC)


def previous_period(start: datetime.date, end: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The period of equal length (in days) that ends the day before `start`."""
    length = (end - start).days + 1
    return start - datetime.timedelta(days=length), start - datetime.timedelta(days=1)


def first_bucket(day: datetime.date, interval: str) -> datetime.date:
    """The start of the bucket holding `day`: itself, its ISO week's Monday, its month's 1st."""
    if interval == "week":
        return day - datetime.timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def bucket_starts(start: datetime.date, end: datetime.date, interval: str) -> list[datetime.date]:
    """The first day of every bucket that holds a day of [start, end]."""
    day, starts = first_bucket(start, interval), []
    while day <= end:
        starts.append(day)
        if interval == "month":
            day = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
        else:
            day += datetime.timedelta(days=7 if interval == "week" else 1)
    return starts
