"""The beat fan-out: one entry every 15 minutes, the right tenants in every time zone."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django_celery_beat.models import PeriodicTask

from campaigns.models import CampaignSettings
from campaigns.schedules import (
    SLOT,
    due_birthday_runs,
    run_date_due,
    run_time_in_slot,
    scheduled_birthday_runs_start,
    slot_end,
)
from campaigns.tests.factories import make_settings
from conftest import make_tenant
from tenants.context import tenant_context
from tenants.models import BackgroundJob

UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def salons(world):
    """Salons at 09:00 local in five zones (one disabled), one at 07:45 in Kathmandu."""
    salons = {"la": world.tenant_a, "auckland": world.tenant_b}
    for key, zone in [
        ("kolkata", "Asia/Kolkata"),
        ("kathmandu", "Asia/Kathmandu"),
        ("london", "Europe/London"),
        ("kathmandu_early", "Asia/Kathmandu"),
        ("off", "Asia/Kolkata"),
    ]:
        salons[key], _ = make_tenant(f"Salon {key}", timezone=zone)
    for key, tenant in salons.items():
        make_settings(tenant, birthday_run_enabled=key != "off", birthday_run_hour=9, birthday_run_minute=0)
    make_settings(salons["kathmandu_early"], birthday_run_hour=7, birthday_run_minute=45)
    return salons


def due_keys(salons, now) -> dict[str, datetime.date]:
    by_id = {tenant.id: key for key, tenant in salons.items()}
    return {by_id[run.tenant_id]: run.local_date for run in due_birthday_runs(now=now) if run.tenant_id in by_id}


def mark_scheduled(tenant, local_date) -> None:
    with tenant_context(tenant.id, role="system"):
        CampaignSettings.objects.filter(tenant_id=tenant.id).update(birthday_last_scheduled_on=local_date)


def healthy_until(salons, end: datetime.datetime) -> None:
    """As if every fan-out up to and including the slot ending at `end` had run."""
    for tenant in salons.values():
        with tenant_context(tenant.id, role="system"):
            row = CampaignSettings.objects.get(tenant_id=tenant.id)
        ran = run_date_due(tz=tenant.tzinfo, hour=row.birthday_run_hour, minute=row.birthday_run_minute, end=end)
        mark_scheduled(tenant, ran or end.astimezone(tenant.tzinfo).date() - datetime.timedelta(days=1))


def test_the_fanout_beat_entry_exists_once(db):
    tasks = PeriodicTask.objects.filter(task="campaigns.birthday_schedule_fanout")
    assert tasks.count() == 1
    assert tasks[0].enabled and tasks[0].crontab.minute == "*/15" and str(tasks[0].crontab.timezone) == "UTC"


def test_slot_end_floors_to_the_quarter_hour():
    assert slot_end(at("2026-03-10T03:44:59")) == at("2026-03-10T03:30:00")
    assert slot_end(at("2026-03-10T03:45:00")) == at("2026-03-10T03:45:00")


@pytest.mark.parametrize(
    "now,expected",
    [
        # Kathmandu is UTC+05:45: 09:00 there is 03:15 UTC; 07:45 there is 02:00 UTC.
        ("2026-03-10T02:00:00", {"kathmandu_early": "2026-03-10"}),
        ("2026-03-10T03:15:00", {"kathmandu": "2026-03-10"}),
        # Kolkata is UTC+05:30 (half hour): 09:00 there is 03:30 UTC. A beat 40 s late still counts.
        ("2026-03-10T03:30:40", {"kolkata": "2026-03-10"}),
        ("2026-03-10T03:45:00", {}),
        # London is still on GMT on 10 March, Los Angeles already on PDT (UTC-7) since 8 March.
        ("2026-03-10T09:00:00", {"london": "2026-03-10"}),
        ("2026-03-10T16:00:00", {"la": "2026-03-10"}),
        # Auckland (UTC+13 in March): 09:00 on the 11th local is 20:00 UTC on the 10th.
        ("2026-03-10T20:00:00", {"auckland": "2026-03-11"}),
        ("2026-03-10T20:15:00", {}),
    ],
)
def test_fanout_picks_the_tenants_whose_local_run_time_just_passed(salons, now, expected):
    healthy_until(salons, slot_end(at(now)) - SLOT)  # every earlier fan-out ran
    assert due_keys(salons, at(now)) == {k: datetime.date.fromisoformat(v) for k, v in expected.items()}


def test_each_enabled_tenant_is_due_exactly_once_a_day(salons):
    healthy_until(salons, at("2026-03-09T23:45:00"))
    counts: dict[str, int] = {}
    slot = at("2026-03-10T00:00:00")
    while slot < at("2026-03-11T00:00:00"):
        for key, local_date in due_keys(salons, slot).items():
            counts[key] = counts.get(key, 0) + 1
            mark_scheduled(salons[key], local_date)  # what starting the run claims
        slot += datetime.timedelta(minutes=15)
    assert counts == {key: 1 for key in salons if key != "off"}


def _jobs(tenant) -> list[dict]:
    with tenant_context(tenant.id, role="system"):
        return [job.params["from"] for job in BackgroundJob.objects.filter(kind="campaigns.birthday_batch")]


@pytest.mark.parametrize(
    "key,run_utc,local_day",
    [
        ("la", "2026-03-10T16:00:00", "2026-03-10"),  # 09:00 PDT
        ("auckland", "2026-03-10T20:00:00", "2026-03-11"),  # 09:00 NZDT, the next local day
    ],
)
def test_a_fanout_stopped_across_the_run_time_catches_up_once_on_restart(salons, key, run_utc, local_day):
    tenant, run_at = salons[key], at(run_utc)
    healthy_until(salons, run_at - SLOT)
    scheduled_birthday_runs_start(now=run_at - SLOT)  # the last fan-out before the run time
    assert _jobs(tenant) == []
    # The fan-out is down from the run time's slot for an hour: nothing runs.
    # Restarted later the same local day: the missed run starts, exactly once.
    started = scheduled_birthday_runs_start(now=run_at + datetime.timedelta(hours=1, minutes=2))
    assert _jobs(tenant) == [local_day]
    with tenant_context(tenant.id, role="system"):
        assert BackgroundJob.objects.get().id in started
    # A further fan-out (and one much later that day) starts nothing more.
    scheduled_birthday_runs_start(now=run_at + datetime.timedelta(hours=1, minutes=15))
    scheduled_birthday_runs_start(now=run_at + datetime.timedelta(hours=10))
    assert _jobs(tenant) == [local_day]


def test_a_missed_run_is_not_caught_up_on_the_next_local_day(salons):
    la = salons["la"]
    healthy_until(salons, at("2026-03-10T15:45:00"))  # LA's 10 March run (16:00 UTC) never started
    # 00:30 on 11 March in Los Angeles: 10 March is over; 11 March's run time is still ahead.
    assert "la" not in due_keys(salons, at("2026-03-11T07:30:00"))
    assert run_date_due(tz=la.tzinfo, hour=9, minute=0, end=at("2026-03-11T16:15:00")) == datetime.date(2026, 3, 11)


def test_a_tenant_already_run_today_is_not_due_again(salons):
    healthy_until(salons, at("2026-03-10T16:00:00"))  # LA ran at 09:00 local
    assert "la" not in due_keys(salons, at("2026-03-10T22:00:00"))


def test_run_times_across_midnight_and_dst_changes():
    kolkata = zoneinfo.ZoneInfo("Asia/Kolkata")
    # 00:00 in Kolkata is 18:30 UTC the day before.
    assert run_time_in_slot(tz=kolkata, hour=0, minute=0, end=at("2026-03-09T18:30:00")) == datetime.date(2026, 3, 10)
    la = zoneinfo.ZoneInfo("America/Los_Angeles")
    # 8 March 2026, 02:30 does not exist in Los Angeles: it runs once, just after the gap.
    hits = [
        slot
        for slot in (at("2026-03-08T08:00:00") + datetime.timedelta(minutes=15 * i) for i in range(96))
        if run_time_in_slot(tz=la, hour=2, minute=30, end=slot)
    ]
    assert len(hits) == 1


def test_starting_the_runs_twice_starts_one_job_per_tenant(salons):
    # (Other tests' committed tenants may be due too: look only at Kolkata's jobs.)
    now = at("2026-03-10T03:30:00")
    first = scheduled_birthday_runs_start(now=now)
    second = scheduled_birthday_runs_start(now=now + datetime.timedelta(minutes=5))
    with tenant_context(salons["kolkata"].id, role="system"):
        job = BackgroundJob.objects.get()
        assert job.id in first and job.id not in second and job.kind == "campaigns.birthday_batch"
        assert job.params == {"days_ahead": 7, "from": "2026-03-10", "channel": "sms", "scheduled": True}
    # The next day runs again.
    scheduled_birthday_runs_start(now=now + datetime.timedelta(days=1))
    with tenant_context(salons["kolkata"].id, role="system"):
        assert BackgroundJob.objects.count() == 2
