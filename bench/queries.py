"""The hot queries, as the application sends them.

Each hot query is taken, in order of preference, from:
1. the endpoint itself: the statements of its view transaction, captured in-process;
2. the app's SQL-building function (e.g. analytics.selectors.revenue_by_service_sql);
3. a built-in equivalent, so the SQL-level figures exist before the endpoint does.
The source is reported with every figure.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import zoneinfo
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from tenants.models import Tenant  # this module loads before Django's apps are ready

SEARCH_TERM = "garcia"
BIRTHDAY_DAYS_AHEAD = 7
TIMESERIES_INTERVAL = "week"


@dataclass
class Period:
    start: datetime.date
    end: datetime.date
    timezone: str

    @classmethod
    def last_year(cls, timezone: str) -> Period:
        today = datetime.datetime.now(zoneinfo.ZoneInfo(timezone)).date()
        return cls(start=today - datetime.timedelta(days=364), end=today, timezone=timezone)


@dataclass
class HotQuery:
    name: str
    endpoint: str  # the endpoint that runs it (path with query string)
    source: str = "builtin"
    statements: list[str] = field(default_factory=list)  # SQL text, parameters inlined, no context
    note: str = ""


HOT_QUERIES = [
    # name, endpoint, app function that builds its SQL (module, function)
    ("client_list", "/api/v1/clients/", None),
    ("client_search", f"/api/v1/clients/?search={SEARCH_TERM}", None),
    (
        "birthdays",
        f"/api/v1/clients/birthdays/?days_ahead={BIRTHDAY_DAYS_AHEAD}",
        ("clients.selectors", "birthdays_upcoming_sql"),
    ),
    ("dashboard", "/api/v1/analytics/dashboard/?start={start}&end={end}", ("analytics.selectors", "dashboard_sql")),
    (
        "revenue_by_service",
        "/api/v1/analytics/revenue-by-service/?start={start}&end={end}",
        ("analytics.selectors", "revenue_by_service_sql"),
    ),
    (
        "revenue_timeseries",
        "/api/v1/analytics/revenue-timeseries/?start={start}&end={end}&interval=" + TIMESERIES_INTERVAL,
        ("analytics.selectors", "revenue_timeseries_sql"),
    ),
]


def endpoint_path(template: str, period: Period) -> str:
    return template.format(start=period.start.isoformat(), end=period.end.isoformat())


def _lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _bounds(period: Period) -> tuple[str, str]:
    tz = _lit(period.timezone)
    start = f"({_lit(period.start)}::timestamp AT TIME ZONE {tz})"
    end = f"({_lit(period.end + datetime.timedelta(days=1))}::timestamp AT TIME ZONE {tz})"
    return start, end


def _window_mmdd(start: datetime.date, days: int) -> list[int]:
    values = set()
    for offset in range(days + 1):
        day = start + datetime.timedelta(days=offset)
        values.add(day.month * 100 + day.day)
        if (day.month, day.day) == (2, 28):
            values.add(229)
    return sorted(values)


CLIENT_COLUMNS = (
    "id, tenant_id, first_name, last_name, email, phone, email_hash, phone_hash, birthday_month, birthday_day, "
    "birth_year, notes, source, email_consent, email_consent_at, sms_consent, sms_consent_at, "
    "created_at, updated_at"
)


def builtin_sql(name: str, tenant_id: str, period: Period) -> list[str]:
    """Equivalents of the endpoints' queries, each with its explicit `tenant_id = ...`."""
    t = _lit(tenant_id)
    start, end = _bounds(period)
    prev_start = f"({start} - ({end} - {start}))"
    if name == "client_list":
        return [
            f"SELECT {CLIENT_COLUMNS} FROM clients_client WHERE tenant_id = {t} ORDER BY created_at DESC, id DESC LIMIT 51"
        ]
    if name == "client_search":
        like = _lit(f"%{SEARCH_TERM}%")
        return [
            f"SELECT {CLIENT_COLUMNS} FROM clients_client WHERE tenant_id = {t} AND (first_name ILIKE {like} "
            f"OR last_name ILIKE {like} OR email ILIKE {like}) ORDER BY created_at DESC, id DESC LIMIT 51"
        ]
    if name == "birthdays":
        today = datetime.datetime.now(zoneinfo.ZoneInfo(period.timezone)).date()
        window = ", ".join(str(v) for v in _window_mmdd(today, BIRTHDAY_DAYS_AHEAD))
        return [
            f"SELECT {CLIENT_COLUMNS} FROM clients_client WHERE tenant_id = {t} AND (birthday_month * 100 + birthday_day) IN ({window})"
        ]
    if name == "dashboard":

        def money(lo: str, hi: str) -> str:
            return (
                f"(SELECT coalesce(sum(total_amount - refunded_amount), 0), count(*) FROM analytics_transaction "
                f"WHERE tenant_id = {t} AND status <> 'failed' AND occurred_at >= {lo} AND occurred_at < {hi})"
            )

        def visits(lo: str, hi: str) -> str:
            return (
                f"(SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'no_show'), "
                f"count(DISTINCT client_id) FROM analytics_appointment WHERE tenant_id = {t} "
                f"AND start_at >= {lo} AND start_at < {hi})"
            )

        def new_clients(lo: str, hi: str) -> str:
            return f"(SELECT count(*) FROM clients_client WHERE tenant_id = {t} AND created_at >= {lo} AND created_at < {hi})"

        return [
            f"SELECT * FROM {money(start, end)} AS m, {visits(start, end)} AS v, {new_clients(start, end)} AS n, "
            f"{money(prev_start, start)} AS pm, {visits(prev_start, start)} AS pv, {new_clients(prev_start, start)} AS pn"
        ]
    if name == "revenue_by_service":
        return [
            "SELECT c.id, c.name, s.id, s.name, count(DISTINCT x.id), sum(li.quantity), "
            "sum(CASE WHEN x.status = 'refunded' THEN 0 ELSE li.amount END) AS revenue "
            "FROM analytics_transactionlineitem li JOIN analytics_transaction x "
            "ON x.id = li.transaction_id AND x.tenant_id = li.tenant_id "
            "LEFT JOIN analytics_service s ON s.id = li.service_id "
            "LEFT JOIN analytics_servicecategory c ON c.id = s.category_id "
            f"WHERE li.tenant_id = {t} AND x.tenant_id = {t} AND x.status <> 'failed' "
            f"AND x.occurred_at >= {start} AND x.occurred_at < {end} "
            "GROUP BY c.id, c.name, s.id, s.name ORDER BY revenue DESC"
        ]
    if name == "revenue_timeseries":
        tz = _lit(period.timezone)
        return [
            f"SELECT b.bucket, coalesce(r.revenue, 0), coalesce(r.n, 0) FROM generate_series("
            f"date_trunc('{TIMESERIES_INTERVAL}', {_lit(period.start)}::timestamp), {_lit(period.end)}::timestamp, "
            f"interval '1 {TIMESERIES_INTERVAL}') AS b(bucket) LEFT JOIN ("
            f"SELECT date_trunc('{TIMESERIES_INTERVAL}', occurred_at AT TIME ZONE {tz}) AS bucket, "
            f"sum(total_amount - refunded_amount) AS revenue, count(*) AS n FROM analytics_transaction "
            f"WHERE tenant_id = {t} AND status <> 'failed' AND occurred_at >= {start} AND occurred_at < {end} "
            f"GROUP BY 1) AS r ON r.bucket = b.bucket ORDER BY b.bucket"
        ]
    raise KeyError(name)


def from_function(
    module_name: str, function_name: str, *, tenant: Tenant, period: Period, conn: psycopg.Connection
) -> list[str] | None:
    """SQL from the app's own builder, if it exists: `(sql, params)` or a list of them."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    function = getattr(module, function_name, None)
    if function is None:
        return None
    kwargs = {}
    parameters = inspect.signature(function).parameters
    if "interval" in parameters:
        kwargs["interval"] = TIMESERIES_INTERVAL
    from tenants.context import tenant_context

    with tenant_context(tenant.id, role="owner_admin"):
        built = function(tenant=tenant, start=period.start, end=period.end, **kwargs)
    if isinstance(built, tuple) and len(built) == 2 and isinstance(built[0], str):
        built = [built]
    cursor = psycopg.ClientCursor(conn)
    return [cursor.mogrify(sql, params) for sql, params in built]
