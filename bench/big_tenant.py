"""`manage.py benchmark --scale big-tenant`: does a big tenant cost more per request than a small one?

One tenant (tenant 1) with `--big-clients` clients (100,000) and `--big-transactions` sales
(1,000,000) over three years, beside 100 small tenants; loaded as the owner with set-based
SQL (bench.loader). Measured in-process through the real endpoints, isolation on:
- every insight endpoint under /api/v1/analytics/ (whatever the analytics app offers: the
  routes are read from the URL conf, not listed here) over the last month and the last year,
  for the big tenant and a small one;
- the client list, search and upcoming birthdays for both;
- the CSV import (the job runner, as a worker runs it) of 10,000 and 100,000 new clients.

The JSON section `big_tenant` holds only medians (`insights`, `lists`, `csv_import`), so a
script can check the targets; the rest (sizes, load times, skipped endpoints) is in `meta`.
"""

from __future__ import annotations

import datetime
import os
import time
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench import background, database, loader
from bench.endpoints import EndpointHarness, debug_off
from bench.queries import BIRTHDAY_DAYS_AHEAD, SEARCH_TERM
from bench.timing import interleaved, summary

BIG, SMALL = 1, 2  # loader tenant numbers: tenant 1 is the big one
HISTORY_DAYS = 3 * 365
LISTS = {
    "client_list": "/api/v1/clients/",
    "client_search": f"/api/v1/clients/?search={SEARCH_TERM}",
    "birthdays": f"/api/v1/clients/birthdays/?days_ahead={BIRTHDAY_DAYS_AHEAD}",
}


@dataclass
class BigTenantOptions:
    small_tenants: int = 100
    clients_per_tenant: int = 200
    transactions_per_tenant: int = 500
    big_clients: int = 100_000
    big_transactions: int = 1_000_000
    csv_rows: tuple[int, ...] = (10_000, 100_000)
    repeat: int = 15
    keep: bool = False
    database: str | None = None  # reuse a database kept by an earlier run (--keep)
    # Sections measured ("insights", "lists", "csv"; all by default): `--only csv` loads the
    # same data and measures only the CSV imports, the JSON keeping its shape (empty sections).
    only: tuple[str, ...] = ("insights", "lists", "csv")


def insight_routes() -> list[tuple[str, str]]:
    """(name, path) of every GET route under /api/v1/analytics/ without path parameters."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: list[tuple[str, str]] = []

    def walk(patterns: Sequence[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and "<" not in route and "(?P" not in route:
                path = "/" + route.lstrip("^").rstrip("$")
                if path.startswith("/api/v1/analytics/"):
                    name = path.removeprefix("/api/v1/analytics/").strip("/").replace("-", "_").replace("/", "_")
                    found.append((name, path))

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


def periods(timezone: str) -> dict[str, tuple[datetime.date, datetime.date]]:
    today = datetime.datetime.now(zoneinfo.ZoneInfo(timezone)).date()
    return {
        "month": (today - datetime.timedelta(days=29), today),
        "year": (today - datetime.timedelta(days=364), today),
    }


def csv_content(rows: int, *, salt: int) -> bytes:
    """`rows` valid, new clients: unique emails, US numbers phonenumbers accepts (+1 415 2XX
    XXXX, one exchange per 10,000 rows), birthdays, a tag on every fifth and email consent."""
    lines = ["First Name,Last Name,Email,Phone,Birthday,Tags,Email Consent"]
    for n in range(rows):
        exchange = 200 + (salt * 11 + n // 10_000) % 800
        lines.append(
            f"Big{n},Import{salt},big.{salt}.{n}@bench.test,+1415{exchange:03d}{n % 10_000:04d},"
            f"1990-{1 + n % 12:02d}-{1 + n % 28:02d},{'VIP' if n % 5 == 0 else ''},{'yes' if n % 3 else ''}"
        )
    return ("\n".join(lines) + "\n").encode()


def csv_import(tenant_id: str, rows: int, *, salt: int) -> dict[str, Any]:
    """One import of `rows` new clients, timed from the job's start to its end."""
    from django.conf import settings

    from clients.imports import client_import_csv
    from clients.services import client_import_csv_start
    from tenants.context import tenant_context
    from tenants.models import BackgroundJob, Tenant

    data = csv_content(rows, salt=salt)
    saved = {name: getattr(settings, name, None) for name in ("CLIENTS_IMPORT_MAX_ROWS", "CLIENTS_IMPORT_MAX_BYTES")}
    settings.CLIENTS_IMPORT_MAX_ROWS, settings.CLIENTS_IMPORT_MAX_BYTES = rows, len(data)
    try:
        with (
            background._no_enqueue("clients.tasks.client_import_csv_task"),
            tenant_context(tenant_id, role="owner_admin"),
        ):
            tenant = Tenant.objects.get(id=tenant_id)
            job = client_import_csv_start(tenant=tenant, data=data, filename=f"big-{rows}.csv")
        started = time.perf_counter()
        client_import_csv(tenant=tenant, job_id=job.id)
        seconds = time.perf_counter() - started
    finally:
        for name, value in saved.items():
            if value is None:
                delattr(settings, name)
            else:
                setattr(settings, name, value)
    with tenant_context(tenant_id, role="owner_admin"):
        finished = BackgroundJob.objects.get(id=job.id)
    created = finished.counts.get("created", 0)
    if finished.status != BackgroundJob.Status.SUCCEEDED or created != rows:
        raise background.WorkFailed(
            f"CSV import of {rows} rows: job {finished.status}, counts {finished.counts}, errors {finished.errors[:3]}"
        )
    return {"rows_per_second": round(rows / seconds, 1), "created": created, "seconds": round(seconds, 2)}


def _import_tenant(bench: database.BenchDatabase, *, like: str) -> str:
    """A new tenant with no clients, in the time zone and country of tenant `like`: where an
    import measured on a reused database writes. Its slug is not the loader's (bench-salon-N),
    so the database still describes as the sizes it was loaded with."""
    import uuid

    import psycopg

    tenant_id = str(uuid.uuid4())
    with psycopg.connect(**bench.owner_conninfo(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tenants_tenant (id, name, slug, timezone, currency, country, is_active, created_at) "
            "SELECT %s, 'Bench CSV import', 'bench-csv-import-' || %s, timezone, currency, country, true, now() "
            "FROM tenants_tenant WHERE id = %s",
            [tenant_id, tenant_id, like],
        )
    return tenant_id


def _describe(bench: database.BenchDatabase, options: BigTenantOptions, tenants: int) -> loader.LoadedData:
    """The sizes of a reused database, checked against those asked for."""
    import psycopg

    with psycopg.connect(**bench.owner_conninfo(), autocommit=True) as conn:
        # The loader's tenants: not the import tenants earlier reuses of the database added.
        (found,) = conn.execute("SELECT count(*) FROM tenants_tenant WHERE slug LIKE 'bench-salon-%%'").fetchall()[0]
        (big,) = conn.execute(
            "SELECT count(*) FROM analytics_transaction WHERE tenant_id = %s", [loader.LoadedData.tenant_id(BIG)]
        ).fetchall()[0]
    if found != tenants or big != options.big_transactions:
        raise ValueError(
            f"database {bench.name} holds {found} tenants and a big tenant of {big} sales, "
            f"not {tenants} and {options.big_transactions}"
        )
    return loader.LoadedData(
        tenants,
        options.clients_per_tenant,
        options.transactions_per_tenant,
        {"tenants_tenant": found, "big_tenant_transactions": big},
        {"reused": 0.0},
    )


def run(options: BigTenantOptions, log: Callable[[str], None]) -> dict[str, Any]:
    from django.conf import settings
    from django.test import override_settings

    started = datetime.datetime.now(datetime.UTC)
    results: dict[str, Any] = {"meta": {"date": started.isoformat(timespec="seconds"), "scale": "big-tenant"}}
    if options.database:
        # Kept by an earlier run (--keep): migrated to this code (an aggregate added since is
        # built by its migration), then checked against the sizes asked for; no loading.
        log(f"reusing database {options.database}, migrating ...")
        bench = database.attach(options.database, keep=options.keep)
        from django.core.management import call_command

        call_command("migrate", database="owner", verbosity=0, interactive=False)
    else:
        log("creating the benchmark database and migrating ...")
        bench = database.create()
    results["meta"]["database"] = bench.name
    harnesses: list[EndpointHarness] = []
    cleanups: list[Callable[[], None]] = []
    try:
        tenants = options.small_tenants + 1
        if options.database:
            data = _describe(bench, options, tenants)
        else:
            log(
                f"loading 1 tenant of {options.big_clients:,} clients and {options.big_transactions:,} sales over 3 "
                f"years beside {options.small_tenants} of {options.clients_per_tenant:,} clients and "
                f"{options.transactions_per_tenant:,} sales (set-based SQL) ..."
            )
            data = loader.load(
                bench,
                tenants=tenants,
                clients_per_tenant=options.clients_per_tenant,
                transactions_per_tenant=options.transactions_per_tenant,
                big_tenant=(options.big_clients, options.big_transactions),
                history_days=HISTORY_DAYS,
                log=log,
            )
        from django.db import connections

        for conn in connections.all():
            conn.close()
        results["meta"].update(
            big={"clients": options.big_clients, "transactions": options.big_transactions},
            small={
                "tenants": options.small_tenants,
                "clients": options.clients_per_tenant,
                "transactions": options.transactions_per_tenant,
            },
            history_days=HISTORY_DAYS,
            repeat=options.repeat,
            load_seconds=round(sum(data.seconds.values()), 1),
            loadavg_at_start=[round(x, 2) for x in os.getloadavg()],
            connection=str(settings.DATABASES["owner"].get("HOST") or "local socket"),
        )
        debug_off()
        # Requests follow each other far faster than a salon's rate: the limiter still runs (its
        # Redis round trip is part of each request) but must never refuse one (as bench.fairness
        # does for its in-process figures).
        unlimited = override_settings(
            TENANT_API_RATE="100000000/60s", TENANT_API_BURST="100000000/1s", TENANT_USER_API_RATE="100000000/60s"
        )
        unlimited.enable()
        cleanups.append(unlimited.disable)
        big = EndpointHarness(bench, tenant_id=data.tenant_id(BIG), user_id=data.owner_id(BIG))
        small = EndpointHarness(bench, tenant_id=data.tenant_id(SMALL), user_id=data.owner_id(SMALL))
        harnesses += [big, small]
        section: dict[str, Any] = {"insights": {}, "lists": {}, "csv_import": {}}
        skipped: dict[str, str] = {}

        returned: dict[str, dict[str, int]] = {}

        def medians(path_big: str, path_small: str, *, rows_of: str | None = None) -> dict[str, Any]:
            for label, harness, path in (("big", big, path_big), ("small", small, path_small)):
                response = harness.get(path)
                if response.status_code != 200:
                    raise background.WorkFailed(f"{path} answered {response.status_code}: {response.content[:200]!r}")
                if rows_of:
                    # How many clients each answer holds: a list is compared like with like only
                    # when both pages hold as many (docs: the note of issue 29's lists).
                    returned.setdefault(rows_of, {})[label] = len(response.json()["results"])

            def answered(harness: EndpointHarness, path: str) -> None:
                # Every timed request must be the real answer: a 429 (or anything else) in
                # microseconds would pass for a fast one.
                response = harness.get(path)
                if response.status_code != 200:
                    raise background.WorkFailed(f"{path} answered {response.status_code} while timed")

            times = interleaved(
                {"big": lambda: answered(big, path_big), "small": lambda: answered(small, path_small)},
                repeat=options.repeat,
                warmup=2,
            )
            return {"big_ms": summary(times["big"])["median"], "small_ms": summary(times["small"])["median"]}

        from tenants.context import tenant_context
        from tenants.models import Tenant

        zones = {}
        for number in (BIG, SMALL):
            with tenant_context(data.tenant_id(number), role="owner_admin"):
                zones[number] = Tenant.objects.get(id=data.tenant_id(number)).timezone
        if "insights" in options.only:
            log("insights: every analytics endpoint, a month and a year, big tenant and small ...")
        for name, path in insight_routes() if "insights" in options.only else ():
            entry = {}
            try:
                for period in ("month", "year"):
                    paths = []
                    for number in (BIG, SMALL):
                        start, end = periods(zones[number])[period]
                        paths.append(f"{path}?start={start.isoformat()}&end={end.isoformat()}")
                    entry[period] = medians(*paths)
            except background.WorkFailed as exc:
                skipped[name] = str(exc)[:300]
                continue
            section["insights"][name] = entry
            log(f"  {name}: {entry}")
        if "lists" in options.only:
            log("lists: client list, search, birthdays ...")
            for name, path in LISTS.items():
                section["lists"][name] = medians(path, path, rows_of=name)
                log(f"  {name}: {section['lists'][name]} (clients returned: {returned[name]})")
            results["meta"]["lists_returned"] = returned
        # The imports go to small tenants of their own (3, 4, ...), measured last: they add clients.
        # On a reused database those hold the clients of an earlier run's imports (the same
        # files would find them, not create them): each import gets a new, empty tenant there.
        for index, rows in enumerate(options.csv_rows if "csv" in options.only else ()):
            log(f"CSV import of {rows:,} rows ...")
            tenant_id = data.tenant_id(3 + index)
            if options.database:
                tenant_id = _import_tenant(bench, like=tenant_id)
            figure = csv_import(tenant_id, rows, salt=index + 1)
            section["csv_import"][str(rows)] = {k: figure[k] for k in ("rows_per_second", "created")}
            results["meta"].setdefault("csv_import_seconds", {})[str(rows)] = figure["seconds"]
            log(f"  {figure}")
        results["big_tenant"] = section
        results["meta"]["insights_skipped"] = skipped
        results["meta"]["seconds"] = round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 1)
    finally:
        for cleanup in cleanups:
            cleanup()
        for harness in harnesses:
            harness.restore()
        database.drop(bench, keep=options.keep)
    return results


def render(results: dict[str, Any]) -> str:
    section = results.get("big_tenant", {})
    meta = results.get("meta", {})
    lines = [
        f"big tenant: {meta.get('big')} beside {meta.get('small')}; loaded in {meta.get('load_seconds')} s; "
        f"load average at start {meta.get('loadavg_at_start')}",
        "",
        f"{'insight':<28}{'period':<8}{'big ms':>10}{'small ms':>10}{'big/small':>11}",
    ]
    for name, entry in section.get("insights", {}).items():
        for period, figure in entry.items():
            ratio = figure["big_ms"] / figure["small_ms"] if figure["small_ms"] else float("nan")
            lines.append(f"{name:<28}{period:<8}{figure['big_ms']:>10.2f}{figure['small_ms']:>10.2f}{ratio:>11.2f}")
    lines += ["", f"{'list':<36}{'big ms':>10}{'small ms':>10}{'big/small':>11}{'clients big/small':>20}"]
    returned = meta.get("lists_returned", {})
    for name, figure in section.get("lists", {}).items():
        ratio = figure["big_ms"] / figure["small_ms"] if figure["small_ms"] else float("nan")
        rows = returned.get(name, {})
        lines.append(
            f"{name:<36}{figure['big_ms']:>10.2f}{figure['small_ms']:>10.2f}{ratio:>11.2f}"
            f"{str(rows.get('big', '?')) + '/' + str(rows.get('small', '?')):>20}"
        )
    lines += ["", f"{'CSV import rows':<20}{'rows/s':>12}{'created':>10}"]
    for rows, figure in section.get("csv_import", {}).items():
        lines.append(f"{rows:<20}{figure['rows_per_second']:>12.1f}{figure['created']:>10}")
    for name, reason in meta.get("insights_skipped", {}).items():
        lines.append(f"skipped insight {name}: {reason}")
    return "\n".join(lines) + "\n"
