"""Quiet hours: SMS goes out only inside the tenant's window (local times, its time zone)."""

from __future__ import annotations

import datetime
import zoneinfo

from django.utils import timezone

from campaigns.models import CampaignSettings
from tenants.models import Tenant


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


def sms_wait_until(
    campaign: CampaignSettings,
    tenant: Tenant,
    send_after: datetime.datetime | None,
    now: datetime.datetime | None = None,
) -> datetime.datetime | None:
    """When an SMS may go out if not now: a later `send_after`, or the next start of the
    tenant's quiet-hours window; None when it may go now."""
    now = now or timezone.now()
    if send_after is not None and send_after > now:
        return send_after
    return sms_window_next_start(
        now=now, tz=tenant.tzinfo, start=campaign.sms_window_start, end=campaign.sms_window_end
    )
