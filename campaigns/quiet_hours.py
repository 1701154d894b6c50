"""Quiet hours: SMS goes out only inside the tenant's window (local times, its time zone)."""

from __future__ import annotations

import datetime
import zoneinfo


def sms_window_next_start(
    *, now: datetime.datetime, tz: zoneinfo.ZoneInfo, start: datetime.time, end: datetime.time
) -> datetime.datetime | None:
    """None when `now` is inside the window (send now); otherwise the next local start, as
    an aware datetime. A start after the end spans midnight; equal times mean no quiet hours."""
    if start == end:
        return None
    local = now.astimezone(tz)
    at = local.time()
    inside = (start <= at < end) if start < end else (at >= start or at < end)
    if inside:
        return None
    candidate = datetime.datetime.combine(local.date(), start, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.datetime.combine(local.date() + datetime.timedelta(days=1), start, tzinfo=tz)
    return candidate
