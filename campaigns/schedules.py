"""The daily birthday run of every tenant, driven by ONE beat entry every 15 minutes.

Each tenant chooses a local hour and minute (default 09:00 in its own IANA zone). The
fan-out runs on :00/:15/:30/:45 UTC; every offset in use today (Asia/Kolkata +05:30,
Asia/Kathmandu +05:45, Pacific/Chatham +12:45 ...) is a multiple of 15 minutes, so those are
slot boundaries in every zone. A tenant is due when its run time falls in the slot that
just ended: (slot_end - 15 min, slot_end], slot_end being now floored to the quarter hour
(a beat that fires a few seconds or minutes late still lands in the right slot).

Catch-up: a tenant whose run time passed earlier TODAY (its local date) without a run, because
the beat or the fan-out was down over its slot, is due at the next fan-out too. "Without a
run" is `birthday_last_scheduled_on` before today; the start claims that date, so the late
run happens once. A run time of a previous local day that was missed is not caught up: the
next run is today's (a day-old birthday list would greet people a day late).
"""

from __future__ import annotations

import datetime
import logging
import uuid
import zoneinfo
from dataclasses import dataclass

from campaigns.models import CampaignSettings
from campaigns.services import birthday_batch_start
from tenants.context import dangerously_support_read_context, tenant_context
from tenants.models import Tenant, for_tenant

logger = logging.getLogger(__name__)

SLOT = datetime.timedelta(minutes=15)


@dataclass(frozen=True)
class DueRun:
    tenant_id: uuid.UUID
    local_date: datetime.date  # the tenant's date of the run: the idempotency key


def slot_end(now: datetime.datetime) -> datetime.datetime:
    now = now.astimezone(datetime.UTC)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def run_time_in_slot(*, tz: zoneinfo.ZoneInfo, hour: int, minute: int, end: datetime.datetime) -> datetime.date | None:
    """The local date whose run time (hour:minute in `tz`) falls in (end - SLOT, end], if any.

    The slot may straddle local midnight, so both local dates it touches are tried. A run
    time that does not exist (inside a spring-forward gap) resolves to the offset before
    the change, i.e. just after the gap; one that occurs twice (fall back) runs at the first.
    """
    start = end - SLOT
    for local_date in sorted({start.astimezone(tz).date(), end.astimezone(tz).date()}):
        scheduled = datetime.datetime.combine(local_date, datetime.time(hour, minute), tzinfo=tz)
        if start < scheduled.astimezone(datetime.UTC) <= end:
            return local_date
    return None


def run_date_due(*, tz: zoneinfo.ZoneInfo, hour: int, minute: int, end: datetime.datetime) -> datetime.date | None:
    """The local date whose run is due at a fan-out for the slot ending at `end`: the run
    time fell in that slot (`run_time_in_slot`), else it passed earlier on the local date
    of `end` (catch-up). None when today's run time is still ahead."""
    in_slot = run_time_in_slot(tz=tz, hour=hour, minute=minute, end=end)
    if in_slot is not None:
        return in_slot
    today = end.astimezone(tz).date()
    scheduled = datetime.datetime.combine(today, datetime.time(hour, minute), tzinfo=tz)
    return today if scheduled.astimezone(datetime.UTC) <= end else None


def due_birthday_runs(*, now: datetime.datetime) -> list[DueRun]:
    """Tenants whose daily run time passed in the slot that just ended, or earlier today
    with no run yet today (catch-up).

    Cross-tenant read, deliberately through `dangerously_support_read_context`: it is ONE
    read-only query (the support role has SELECT and nothing else) over the enabled settings
    of all tenants, instead of 10,000 transactions every 15 minutes (one tenant_context per
    tenant). Only tenant ids, zones and run times leave this function; no tenant data is
    shown to anyone, so no SupportAccess row is written. Every write afterwards happens in
    the due tenant's own context.
    """
    end = slot_end(now)
    with dangerously_support_read_context(staff_user_id=None):
        rows = list(
            CampaignSettings.objects.filter(birthday_run_enabled=True, tenant__is_active=True).values_list(
                "tenant_id",
                "tenant__timezone",
                "birthday_run_hour",
                "birthday_run_minute",
                "birthday_last_scheduled_on",
            )
        )
    zones: dict[str, zoneinfo.ZoneInfo] = {}
    due = []
    for tenant_id, zone_name, hour, minute, last_scheduled_on in rows:
        try:
            tz = zones.get(zone_name) or zones.setdefault(zone_name, zoneinfo.ZoneInfo(zone_name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            logger.warning("tenant %s has an unknown time zone %r; no birthday run", tenant_id, zone_name)
            continue
        local_date = run_date_due(tz=tz, hour=hour, minute=minute, end=end)
        # Already started for that date: filtered here, so that after their run time the
        # tenants already served cost no transaction at each fan-out. (The claim in
        # scheduled_birthday_runs_start stays the guard against concurrent fan-outs.)
        if local_date is not None and (last_scheduled_on is None or last_scheduled_on < local_date):
            due.append(DueRun(tenant_id, local_date))
    return due


def scheduled_birthday_runs_start(*, now: datetime.datetime) -> list[uuid.UUID]:
    """Start one birthday batch per due tenant; returns the new job ids.

    Idempotent: the job is created in the same transaction as a conditional update of the
    tenant's `birthday_last_scheduled_on` (only when it is before the run's local date). A
    second fan-out for the same slot, even concurrently, updates nothing and starts nothing.
    """
    started = []
    for run in due_birthday_runs(now=now):
        try:
            with tenant_context(run.tenant_id, role="system"):
                tenant_settings = for_tenant(CampaignSettings.objects.all(), run.tenant_id)
                claimed = (
                    tenant_settings.filter(birthday_run_enabled=True)
                    .exclude(birthday_last_scheduled_on__gte=run.local_date)
                    .update(birthday_last_scheduled_on=run.local_date)
                )
                if not claimed:
                    continue
                settings_row = tenant_settings.get()
                job = birthday_batch_start(
                    tenant=Tenant.objects.get(id=run.tenant_id),
                    acting_user=None,
                    days_ahead=settings_row.birthday_days_ahead,
                    start=run.local_date,
                    channel=settings_row.default_channel,
                    scheduled=True,
                )
            started.append(job.id)
        except Exception:  # noqa: BLE001 - one tenant's failure must not stop the others
            logger.exception("could not start the scheduled birthday run of tenant %s", run.tenant_id)
    return started
