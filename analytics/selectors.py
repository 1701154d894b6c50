"""The revenue insights a salon owner checks every morning.

Rules every insight follows:
- Dates are the tenant's local dates. [start 00:00 local, end + 1 day 00:00 local) is
  turned into two UTC instants once, in Python, and `occurred_at` / `start_at` are compared
  with them: a plain range on the (tenant_id, time) index. Bucketing uses
  `date_trunc(.., occurred_at AT TIME ZONE tenant_tz)`, so 23:30 local on the 31st belongs
  to the 31st whatever UTC says.
- A sale counts on its own date, a refund on the refund's date: revenue of a period = the
  total_amount of its completed and refunded sales (failed ones excluded) - the refunds
  dated in it. A refund issued in March lowers March; February stays as reported.
- A sale fully refunded by the end of the period (the report's end; for the previous
  period, its own end) is not a transaction: it is left out of the counts, the average
  ticket and the active clients. Its money still nets to 0 in that period.
- Service revenue excludes tips and taxes (their own amounts on a sale); a refund takes
  its share of service, tip and tax in proportion to the sale's total.
- Sums are numeric (no bigint overflow) and each figure is rounded once, at the end.
- docs/insights.md is the reference of every figure; keep it true when this changes.
- Money is never summed across currencies: every money figure is per currency, and the
  tenant's own currency is always reported (with zeros when it had no sales).
- Each heavy query is ONE SQL statement built by a `*_sql(*, tenant, ...)` function returning
  `(sql, params)`, so the benchmark runs exactly what the endpoint runs. Each has an
  explicit `tenant_id = %s` as the second belt behind RLS (and it lets the planner use the
  (tenant_id, ...) indexes with a constant instead of the policy's sub-select).
- Selectors run inside the caller's tenant context (a request, or `tenant_context`).
"""

from __future__ import annotations

import datetime
import re
import uuid
from decimal import Decimal
from typing import Any

from django.db import connection

from analytics.periods import bucket_starts, local_bounds, previous_period, validate_period
from analytics.rules import (
    INTERVALS,
    MAX_TOP_CLIENTS,
    OTHER_SERVICE,
    REBOOKING_WINDOW_DAYS,
    UNCATEGORIZED,
    average,
    figure,
    percent,
)
from clients.models import display_name_of
from common.errors import InvalidInput
from tenants.context import require_tenant
from tenants.models import Tenant

# For the type checker: a statement as a cursor takes it, a row, an answer (the API's body).
Statement = tuple[str, list[Any]]
Row = tuple[Any, ...]
Answer = dict[str, Any]

# Statuses whose money counts (see the module docstring); kept literal in the SQL.
_REVENUE_STATUSES = "('completed', 'refunded')"


def _refunded_by(alias: str, until: str) -> str:
    """SQL: how much of sale `alias` was refunded before the instant `until` (a named
    parameter or expression). Index-only probe of refund_transaction_idx; callers only
    probe sales that have refunds at all (refunded_amount > 0 is in the covering index)."""
    return f"""(SELECT coalesce(sum(r.amount), 0) FROM analytics_refund r
              WHERE r.tenant_id = %(tenant)s AND r.transaction_id = {alias}.id AND r.refunded_at < {until})"""


def _counts_sql(alias: str, until: str) -> str:
    """SQL boolean: sale `alias` is a transaction, i.e. not fully refunded before `until`.
    A sale not fully refunded today was not fully refunded then either: only sales fully
    refunded today are probed."""
    return (
        f"({alias}.refunded_amount < {alias}.total_amount OR {alias}.total_amount = 0 "
        f"OR {_refunded_by(alias, until)} < {alias}.total_amount)"
    )


# --- service money: one definition for the dashboard and revenue by service ---------------
# A refund takes its share of its sale's tip and tax in proportion to the sale's total (exact
# fractions: `_refund_share`); what is left of it is its share of the service money. Every
# statement (the dashboard's both paths, revenue by service) builds the service money of a
# move with `_service_money` and rounds a figure once, at the end, with `_rounded_sum`: so
# service money + tips + taxes = revenue exactly, and the dashboard's `service_revenue` is
# the revenue-by-service total to the cent (docs/insights.md, "Rounding").


def _refund_share(refund: str, sale: str, part: str) -> str:
    """SQL: refund `refund`'s exact share of sale `sale`'s `part` (tip_amount, tax_amount).
    The aggregates' trigger function (migration analytics 0008) keeps the same expression."""
    return f"({refund}.amount::numeric * {sale}.{part} / nullif({sale}.total_amount, 0))"


def _service_money(money: str, tips: str, taxes: str) -> str:
    """SQL: the exact service money of `money` (a sale's total, a refund's amount, a day's
    revenue) whose tip and tax parts are `tips` and `taxes`."""
    return f"({money}::numeric - coalesce({tips}, 0) - coalesce({taxes}, 0))"


def _rounded_sum(exact: str) -> str:
    """SQL aggregate: an exact money figure summed, then rounded once (half away from zero)."""
    return f"coalesce(round(sum({exact})), 0)"


# --- small helpers -----------------------------------------------------------------------

_NAMED = re.compile(r"%\((\w+)\)s")


def _positional(sql: str, values: dict[str, Any]) -> Statement:
    """Write the SQL with named placeholders (readable), hand it out with `%s` (portable:
    what the benchmark and a bare psycopg cursor take)."""
    params: list[Any] = []

    def take(match: re.Match[str]) -> str:
        params.append(values[match.group(1)])
        return "%s"

    return _NAMED.sub(take, sql), params


def _run(sql: str, params: list[Any]) -> list[Row]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[Row] = cursor.fetchall()
        return rows


def _currencies(tenant: Tenant, seen: set[str]) -> list[str]:
    """The tenant's currency first (always present), then any other seen, alphabetically."""
    return [tenant.currency, *sorted(seen - {tenant.currency})]


# --- dashboard ---------------------------------------------------------------------------

_DASHBOARD_SQL = f"""
WITH sales AS (
    SELECT t.occurred_at >= %(current_from)s AS is_current, t.id, t.client_id, t.currency, t.total_amount,
           t.tip_amount, t.tax_amount, t.discount_amount,
           -- Refunded by the end of the sale's own period (a refund never precedes its sale).
           CASE WHEN t.refunded_amount = 0 THEN 0
                ELSE {_refunded_by("t", "CASE WHEN t.occurred_at >= %(current_from)s THEN %(current_to)s ELSE %(current_from)s END")}
           END AS refunded_by_end
    FROM analytics_transaction t
    WHERE t.tenant_id = %(tenant)s
      AND t.occurred_at >= %(previous_from)s AND t.occurred_at < %(current_to)s
      AND t.status IN {_REVENUE_STATUSES}
),
counted AS (
    SELECT s.*, NOT (s.total_amount > 0 AND s.refunded_by_end >= s.total_amount) AS counts FROM sales s
),
refunds AS (
    -- The period's refunds, whatever the sale's date; each takes its share of tip and tax.
    SELECT r.refunded_at >= %(current_from)s AS is_current, r.currency, r.amount,
           {_refund_share("r", "t", "tip_amount")} AS tip, {_refund_share("r", "t", "tax_amount")} AS tax
    FROM analytics_refund r
    JOIN analytics_transaction t ON t.id = r.transaction_id AND t.tenant_id = %(tenant)s
    WHERE r.tenant_id = %(tenant)s
      AND r.refunded_at >= %(previous_from)s AND r.refunded_at < %(current_to)s
),
visits AS (
    SELECT a.start_at >= %(current_from)s AS is_current, a.client_id, a.start_at, a.status
    FROM analytics_appointment a
    WHERE a.tenant_id = %(tenant)s
      AND a.start_at >= %(previous_from)s AND a.start_at < %(current_to)s
      AND a.status IN ('completed', 'no_show')
),
active AS (
    SELECT is_current, client_id FROM counted WHERE counts AND client_id IS NOT NULL
    UNION
    SELECT is_current, client_id FROM visits WHERE status = 'completed' AND client_id IS NOT NULL
),
active_counts AS (
    -- Returning: active in the period AND a completed visit or a purchase (not fully
    -- refunded) at any time before it. Active and not returning = new: the first visit or
    -- purchase on record is in the period (an import day makes nobody new).
    SELECT ac.is_current, count(*) AS active_clients,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM analytics_transaction p
               WHERE p.tenant_id = %(tenant)s AND p.client_id = ac.client_id
                 AND p.occurred_at < CASE WHEN ac.is_current THEN %(current_from)s ELSE %(previous_from)s END
                 AND p.status = 'completed'
           ) OR EXISTS (
               SELECT 1 FROM analytics_appointment p
               WHERE p.tenant_id = %(tenant)s AND p.client_id = ac.client_id
                 AND p.start_at < CASE WHEN ac.is_current THEN %(current_from)s ELSE %(previous_from)s END
                 AND p.status = 'completed'
           )) AS returning_clients
    FROM active ac
    GROUP BY ac.is_current
),
visit_counts AS (
    -- Rebooked: a completed visit followed, within the window, by another booking of the
    -- same client (any status but canceled). A visit with no client cannot be followed,
    -- so only visits with a client are counted for this rate.
    SELECT v.is_current,
           count(*) FILTER (WHERE v.status = 'completed') AS completed_visits,
           count(*) FILTER (WHERE v.status = 'no_show') AS no_shows,
           count(*) FILTER (WHERE v.status = 'completed' AND v.client_id IS NOT NULL) AS rebookable_visits,
           count(*) FILTER (WHERE v.status = 'completed' AND v.client_id IS NOT NULL AND EXISTS (
               SELECT 1 FROM analytics_appointment n
               WHERE n.tenant_id = %(tenant)s AND n.client_id = v.client_id
                 AND n.start_at > v.start_at AND n.start_at <= v.start_at + make_interval(days => %(rebooking_days)s)
                 AND n.status <> 'canceled'
           )) AS rebooked_visits
    FROM visits v
    GROUP BY v.is_current
),
money AS (
    SELECT is_current, currency, total_amount AS gross, 0 AS refunds, tip_amount::numeric AS tips,
           tax_amount::numeric AS taxes, CASE WHEN counts THEN discount_amount ELSE 0 END AS discounts,
           counts::int AS transactions, CASE WHEN counts THEN total_amount - refunded_by_end ELSE 0 END AS ticket,
           {_service_money("total_amount", "tip_amount", "tax_amount")} AS service
    FROM counted
    UNION ALL
    SELECT is_current, currency, 0, amount, -tip, -tax, 0, 0, 0, -{_service_money("amount", "tip", "tax")} FROM refunds
),
money_by_currency AS (
    -- numeric sums: no bigint overflow however large the amounts.
    SELECT is_current, json_agg(json_build_object(
               'currency', currency, 'gross', gross, 'refunds', refunds, 'tips', tips, 'taxes', taxes,
               'discounts', discounts, 'transactions', transactions, 'ticket', ticket, 'service', service)) AS figures
    FROM (
        SELECT is_current, currency, sum(gross) AS gross, sum(refunds) AS refunds, {_rounded_sum("tips")} AS tips,
               {_rounded_sum("taxes")} AS taxes, sum(discounts) AS discounts, sum(transactions) AS transactions,
               sum(ticket) AS ticket, {_rounded_sum("service")} AS service
        FROM money
        GROUP BY is_current, currency
    ) m
    GROUP BY is_current
)
SELECT p.is_current, coalesce(m.figures, '[]'::json),
       coalesce(ac.active_clients, 0) - coalesce(ac.returning_clients, 0), coalesce(ac.active_clients, 0),
       coalesce(ac.returning_clients, 0),
       coalesce(vc.completed_visits, 0), coalesce(vc.no_shows, 0), coalesce(vc.rebookable_visits, 0),
       coalesce(vc.rebooked_visits, 0)
FROM (VALUES (true), (false)) AS p(is_current)
LEFT JOIN money_by_currency m ON m.is_current = p.is_current
LEFT JOIN active_counts ac ON ac.is_current = p.is_current
LEFT JOIN visit_counts vc ON vc.is_current = p.is_current
"""


def dashboard_sql(*, tenant: Tenant, start: datetime.date, end: datetime.date) -> Statement:
    """One statement for both periods: one index range scan over [previous start, end)
    per table, split by `is_current`; one row per period (current first)."""
    previous_start, _ = previous_period(start, end)
    previous_from, current_from = local_bounds(tenant, previous_start, start - datetime.timedelta(days=1))
    _, current_to = local_bounds(tenant, start, end)
    return _positional(
        _DASHBOARD_SQL + "ORDER BY p.is_current DESC",
        {
            "tenant": tenant.id,
            "previous_from": previous_from,
            "current_from": current_from,
            "current_to": current_to,
            "rebooking_days": REBOOKING_WINDOW_DAYS,
        },
    )


# `service`: the exact service money rounded once, not revenue - rounded tips - rounded taxes.
_MONEY = ("gross", "refunds", "tips", "taxes", "discounts", "transactions", "ticket", "service")


def _period_figures(row: Row) -> dict[str, Any]:
    (_, figures, new_clients, active, returning, completed, no_shows, rebookable, rebooked) = row
    by_currency = {f["currency"]: {name: int(f[name]) for name in _MONEY} for f in figures}
    return {
        "by_currency": by_currency,
        "transactions": sum(f["transactions"] for f in by_currency.values()),
        "new_clients": new_clients,
        "active_clients": active,
        "returning_client_rate": percent(returning, active),
        "rebooking_rate": percent(rebooked, rebookable),
        "no_show_rate": percent(no_shows, completed + no_shows),
    }


def _currency_figures(f: dict[str, int]) -> dict[str, int]:
    revenue = f["gross"] - f["refunds"]
    return {
        "revenue": revenue,
        "transactions": f["transactions"],
        "average_ticket": average(f["ticket"], f["transactions"]),
        "gross_sales": f["gross"],
        "refunds": f["refunds"],
        "service_revenue": f["service"],
        "tips": f["tips"],
        "taxes": f["taxes"],
        "discounts": f["discounts"],
    }


_NO_MONEY = dict.fromkeys(_MONEY, 0)


def dashboard(*, tenant: Tenant, start: datetime.date, end: datetime.date) -> Answer:
    """The period's figures, each with the previous period of equal length and the change.
    From the aggregates when they are ready for the tenant's time zone, else from the rows:
    the same answer either way (docs/insights.md, "How the figures are kept")."""
    require_tenant(tenant)
    validate_period(start, end)
    if aggregates_ready(tenant=tenant):
        rows = _dashboard_rows_from_aggregates(tenant, start, end)
    else:
        rows = _run(*dashboard_sql(tenant=tenant, start=start, end=end))
    return _dashboard_answer(tenant, start, end, rows)


def dashboard_raw(*, tenant: Tenant, start: datetime.date, end: datetime.date) -> Answer:
    """The dashboard from the rows alone (one statement over the period's sales, refunds and
    visits): the definition the aggregates are checked against."""
    require_tenant(tenant)
    validate_period(start, end)
    return _dashboard_answer(tenant, start, end, _run(*dashboard_sql(tenant=tenant, start=start, end=end)))


def _dashboard_answer(tenant: Tenant, start: datetime.date, end: datetime.date, rows: list[Row]) -> Answer:
    current_row, previous_row = rows
    current, previous = _period_figures(current_row), _period_figures(previous_row)
    previous_start, previous_end = previous_period(start, end)
    currencies = []
    for code in _currencies(tenant, set(current["by_currency"]) | set(previous["by_currency"])):
        now = _currency_figures(current["by_currency"].get(code, _NO_MONEY))
        before = _currency_figures(previous["by_currency"].get(code, _NO_MONEY))
        currencies.append({"currency": code, **{name: figure(now[name], before[name]) for name in now}})
    return {
        "start": start,
        "end": end,
        "previous_start": previous_start,
        "previous_end": previous_end,
        "currencies": currencies,
        **{
            name: figure(current[name], previous[name])
            for name in (
                "transactions",
                "new_clients",
                "active_clients",
                "returning_client_rate",
                "rebooking_rate",
                "no_show_rate",
            )
        },
    }


# --- the aggregate path ------------------------------------------------------------------
# analytics_insightday / _insightspan / _insightvisitday are kept by triggers (migration
# analytics 0008) per local day of the time zone in analytics_insightstate. A period of local
# dates is a set of whole local days, so no edge day is read from the rows.


def aggregates_ready(*, tenant: Tenant) -> bool:
    """The tenant's aggregates exist and are bucketed in its current time zone (a time zone
    change leaves them in the old one until `rebuild_insight_aggregates` runs)."""
    rows = _run("SELECT timezone FROM analytics_insightstate WHERE tenant_id = %s", [tenant.id])
    return bool(rows) and rows[0][0] == tenant.timezone


def _partial_months(day: str, period: str = "") -> str:
    """SQL: local day `day` is in a partial first or last month of the period whose bounds are
    the statement's parameters named `period` + start, end, head_end, ... (see _month_split)."""
    return (
        f"({day} >= %({period}start)s AND {day} <= %({period}head_end)s"
        f" OR {day} >= %({period}tail_start)s AND {day} <= %({period}end)s)"
    )


def _month_split(start: datetime.date, end: datetime.date) -> dict[str, datetime.date]:
    """The bounds the aggregates are read by over a period (migration analytics 0014): its whole
    calendar months [months_from, months_to] from the month rows, the days before them
    [start, head_end] and after them [tail_start, end] from the day rows; a refund of a whole
    month's sale is read by month when its month starts before `refund_cut` (the first day of
    the month of the day after `end`: it is then given back by `end`), by day otherwise. A
    period without a whole month is read by day: [start, end], and no month."""
    first_whole = start if start.day == 1 else (start.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    after = end + datetime.timedelta(days=1)
    last_whole_end = after.replace(day=1) - datetime.timedelta(days=1)  # the last day of the last whole month
    if first_whole > last_whole_end:
        return {"head_end": end, "tail_start": after, "months_from": after, "months_to": end, "refund_cut": after}
    return {
        "head_end": first_whole - datetime.timedelta(days=1),
        "tail_start": last_whole_end + datetime.timedelta(days=1),
        "months_from": first_whole,
        "months_to": last_whole_end,
        "refund_cut": after.replace(day=1),
    }


def _spans_given_back_by_end(select: str, days: str, months: str, *, period: str = "", condition: str = "true") -> str:
    """SQL: `select` (over alias `s`) of the spans of one period's sales given back by its end,
    from the day table `days` and its month table `months` (migration analytics 0014): those of
    its partial months by day, those of its whole months by month when given back in a month
    ending by its end, by day when given back in its end's month up to its end. The period's
    bounds are the parameters named `period` + start, end, ... (_month_split)."""
    p = period
    return f"""SELECT {select}
        FROM {days} s
        WHERE s.tenant_id = %(tenant)s AND {_partial_months("s.sale_day", p)} AND s.refund_day <= %({p}end)s
          AND {condition}
        UNION ALL
        SELECT {select}
        FROM {months} s
        WHERE s.tenant_id = %(tenant)s AND s.sale_month >= %({p}months_from)s AND s.sale_month <= %({p}months_to)s
          AND s.refund_month < %({p}refund_cut)s AND {condition}
        UNION ALL
        SELECT {select}
        FROM {days} s
        WHERE s.tenant_id = %(tenant)s AND s.sale_day >= %({p}months_from)s AND s.sale_day <= %({p}months_to)s
          AND s.refund_day >= %({p}refund_cut)s AND s.refund_day <= %({p}end)s AND {condition}"""


def _period_spans(is_current: str, period: str) -> str:
    """SQL: the dashboard's spans (what was refunded, sales fully refunded, their discounts) of
    one period's sales given back by its end."""
    return _spans_given_back_by_end(
        f"{is_current} AS is_current, s.currency, s.refunded, s.full_sales, s.full_discounts",
        "analytics_insightspan",
        "analytics_insightspanmonth",
        period=period,
    )


_DASHBOARD_MONEY_SQL = f"""
WITH money AS (
    SELECT d.day >= %(start)s AS is_current, d.currency, d.gross, d.refunds, d.sale_tips - d.refund_tips AS tips,
           d.sale_taxes - d.refund_taxes AS taxes, d.discounts, d.sales AS transactions, d.gross AS ticket
    FROM analytics_insightday d
    WHERE d.tenant_id = %(tenant)s AND d.day >= %(previous_start)s AND d.day <= %(end)s
    UNION ALL
    -- Each period's own sales fully refunded by its end are not transactions (nor their
    -- discounts), and what was refunded of its sales by its end is out of the ticket. Summed
    -- here per period and currency (integers): the spans are many more rows than the days
    -- for a big tenant, and none of them needs the money expressions below.
    SELECT s.is_current, s.currency, 0, 0, 0, 0, -sum(s.full_discounts), -sum(s.full_sales), -sum(s.refunded)
    FROM (
        {_period_spans("true", "")}
        UNION ALL
        {_period_spans("false", "previous_")}
    ) s
    GROUP BY 1, 2
)
SELECT m.is_current, m.currency, sum(m.gross), sum(m.refunds), {_rounded_sum("m.tips")},
       {_rounded_sum("m.taxes")}, sum(m.discounts), sum(m.transactions), sum(m.ticket),
       {_rounded_sum(_service_money("(m.gross - m.refunds)", "m.tips", "m.taxes"))}
FROM money m
GROUP BY m.is_current, m.currency
"""

_DASHBOARD_VISITS_SQL = """
SELECT v.day >= %(start)s, sum(v.completed), sum(v.no_shows), sum(v.rebookable), sum(v.rebooked)
FROM analytics_insightvisitday v
WHERE v.tenant_id = %(tenant)s AND v.day >= %(previous_start)s AND v.day <= %(end)s
GROUP BY 1
"""


# Active clients: those with a client-day in the period that makes them active by the
# period's end (a permanent one, or a sale refunded in full only after the period's end);
# returning ones had their first visit or purchase before the period.
# - Permanent days: one row per local day (analytics_insightactiveday). A client with a
#   permanent day in [S, E] has exactly one whose previous permanent day is before S (the first
#   one): the client-days of day d with gap > d - S, counted by a binary search in d's sorted
#   negated gaps (width_bucket(S - d - 1, ..) counts those <= S - d - 1). Returning: also their
#   first visit or purchase before S (the returning gaps). One row per day, whatever the
#   tenant's size; one function call per array (no cardinality(): each call reads the array).
# - Days of sales refunded in full on a later day (permanent = 0): active only in a period
#   ending before that day, and counted only for clients without a permanent day in the
#   period: each such row holds the client's permanent days just before and after it. A
#   partial index holds just those days (a few: refunds on a later day) with those columns;
#   each client left is probed by key for its first day, not joined (there are few).
def _later_days(is_current: str, start: str, end: str) -> str:
    """One period's clients active only by a sale refunded in full after the period's end
    (`start`, `end`: the names of its bounds among the statement's parameters)."""
    return f"""SELECT DISTINCT {is_current}, c.client_id
    FROM analytics_insightclientday c
    WHERE c.tenant_id = %(tenant)s AND c.permanent = 0 AND c.refunded_in_full_on > c.day
      AND c.day >= %({start})s AND c.day <= %({end})s AND c.refunded_in_full_on > %({end})s
      AND (c.previous_permanent_day IS NULL OR c.previous_permanent_day < %({start})s)
      AND (c.next_permanent_day IS NULL OR c.next_permanent_day > %({end})s)"""


_DASHBOARD_CLIENTS_SQL = f"""
WITH kept AS (
    SELECT a.day >= %(start)s AS is_current,
           sum(width_bucket(((CASE WHEN a.day >= %(start)s THEN %(start)s ELSE %(previous_start)s END) - a.day - 1)::smallint,
                            a.neg_gaps)) AS active,
           sum(width_bucket(((CASE WHEN a.day >= %(start)s THEN %(start)s ELSE %(previous_start)s END) - a.day - 1)::smallint,
                            a.neg_returning_gaps)) AS returning
    FROM analytics_insightactiveday a
    WHERE a.tenant_id = %(tenant)s AND a.day >= %(previous_start)s AND a.day <= %(end)s
    GROUP BY 1
),
later AS (
    -- Their clients without a permanent day in the period: the permanent days next to the
    -- row's day are both outside it. One branch per period (the previous one ends the day
    -- before `start`), each with constant bounds, so that each reads the index that holds
    -- fewer of its rows: a recent period's full refunds after its end are few
    -- (insight_client_day_full_idx), an older period's days are (insight_client_day_later_idx).
    {_later_days("true AS is_current", "start", "end")}
    UNION ALL
    {_later_days("false", "previous_start", "previous_end")}
),
only_later AS (
    SELECT l.is_current, count(*) AS active,
           count(*) FILTER (WHERE (
               SELECT f.first_day FROM analytics_insightclient f
               WHERE f.tenant_id = %(tenant)s AND f.client_id = l.client_id
           ) < CASE WHEN l.is_current THEN %(start)s ELSE %(previous_start)s END) AS returning
    FROM later l
    GROUP BY l.is_current
)
SELECT p.is_current, coalesce(k.active, 0) + coalesce(o.active, 0), coalesce(k.returning, 0) + coalesce(o.returning, 0)
FROM (VALUES (true), (false)) AS p(is_current)
LEFT JOIN kept k ON k.is_current = p.is_current
LEFT JOIN only_later o ON o.is_current = p.is_current
"""


def _dashboard_rows_from_aggregates(tenant: Tenant, start: datetime.date, end: datetime.date) -> list[Row]:
    """The two rows `dashboard_sql` returns (current, previous), from the aggregates."""
    previous_start, previous_end = previous_period(start, end)
    days = {
        "tenant": tenant.id,
        "start": start,
        "end": end,
        "previous_start": previous_start,
        "previous_end": previous_end,
    }
    months = {
        **_month_split(start, end),
        **{f"previous_{name}": day for name, day in _month_split(previous_start, previous_end).items()},
    }
    money = _run(*_positional(_DASHBOARD_MONEY_SQL, days | months))
    visits = {row[0]: row[1:] for row in _run(*_positional(_DASHBOARD_VISITS_SQL, days))}
    clients = {row[0]: row[1:] for row in _run(*_positional(_DASHBOARD_CLIENTS_SQL, days))}
    rows = []
    for is_current in (True, False):
        figures = [dict(zip(("currency", *_MONEY), values[1:])) for values in money if values[0] == is_current]
        active, returning = (int(n) for n in clients.get(is_current, (0, 0)))
        completed, no_shows, rebookable, rebooked = (int(n or 0) for n in visits.get(is_current, (0, 0, 0, 0)))
        rows.append(
            (is_current, figures, active - returning, active, returning, completed, no_shows, rebookable, rebooked)
        )
    return rows


# --- revenue by service ------------------------------------------------------------------

_REVENUE_BY_SERVICE_SQL = f"""
WITH moves AS (
    -- What moved money in the period: its sales (on their date) and its refunds (on theirs,
    -- whatever the sale's date). A refund takes its share of service, tip and tax in
    -- proportion to the sale's total. `move` identifies the sale or the refund.
    SELECT t.id AS move, t.id AS transaction_id, t.currency,
           {_service_money("t.total_amount", "t.tip_amount", "t.tax_amount")} AS service_money,
           t.tip_amount::numeric AS tips, t.tax_amount::numeric AS taxes,
           {_counts_sql("t", "%(to)s")} AS counted, t.discount_amount
    FROM analytics_transaction t
    WHERE t.tenant_id = %(tenant)s
      AND t.occurred_at >= %(from)s AND t.occurred_at < %(to)s
      AND t.status IN {_REVENUE_STATUSES}
    UNION ALL
    SELECT r.id, r.transaction_id, r.currency,
           -{_service_money("r.amount", _refund_share("r", "t", "tip_amount"), _refund_share("r", "t", "tax_amount"))},
           -{_refund_share("r", "t", "tip_amount")}, -{_refund_share("r", "t", "tax_amount")},
           false, 0
    FROM analytics_refund r
    JOIN analytics_transaction t ON t.id = r.transaction_id AND t.tenant_id = %(tenant)s
    WHERE r.tenant_id = %(tenant)s
      AND r.refunded_at >= %(from)s AND r.refunded_at < %(to)s
),
lines AS (
    -- The lines share the service money in proportion to their amounts (a discount on the
    -- whole sale lowers every line alike; lines that are all 0 share it equally). A sale
    -- without lines is one "Other" line. Exact numeric; rounded once per group below.
    -- Tips, taxes, discounts and the move's whole service money ride on its first line only,
    -- to be summed once (the currency's total is the moves' service money rounded once,
    -- as the dashboard's service_revenue; categories and services sum their lines' shares).
    -- (Only columns of line_item_transaction_idx are read: the probe is index-only.)
    SELECT m.transaction_id, m.currency, li.service_id, m.counted,
           CASE WHEN m.counted THEN coalesce(li.quantity, 1) ELSE 0 END AS quantity,
           CASE WHEN li.transaction_id IS NULL THEN m.service_money
                WHEN sum(li.amount) OVER w = 0 THEN m.service_money / count(*) OVER w
                ELSE m.service_money * li.amount / sum(li.amount) OVER w END AS revenue,
           CASE WHEN row_number() OVER w = 1 THEN m.service_money ELSE 0 END AS service_money,
           CASE WHEN row_number() OVER w = 1 THEN m.tips ELSE 0 END AS tips,
           CASE WHEN row_number() OVER w = 1 THEN m.taxes ELSE 0 END AS taxes,
           CASE WHEN row_number() OVER w = 1 AND m.counted THEN m.discount_amount ELSE 0 END AS discounts
    FROM moves m
    LEFT JOIN analytics_transactionlineitem li ON li.transaction_id = m.transaction_id AND li.tenant_id = %(tenant)s
    WINDOW w AS (PARTITION BY m.move)
)
SELECT l.currency, GROUPING(sc.id, sv.id) AS level, sc.id, max(sc.name), sv.id, max(sv.name),
       count(DISTINCT l.transaction_id) FILTER (WHERE l.counted), sum(l.quantity), coalesce(round(sum(l.revenue)), 0),
       {_rounded_sum("l.tips")}, {_rounded_sum("l.taxes")}, sum(l.discounts), {_rounded_sum("l.service_money")}
FROM lines l
LEFT JOIN analytics_service sv ON sv.id = l.service_id AND sv.tenant_id = %(tenant)s
LEFT JOIN analytics_servicecategory sc ON sc.id = sv.category_id AND sc.tenant_id = %(tenant)s
GROUP BY l.currency, GROUPING SETS ((sc.id, sv.id), (sc.id), ())
ORDER BY l.currency, round(sum(l.revenue)) DESC, max(sc.name), max(sv.name), sc.id, sv.id
"""


def revenue_by_service_sql(*, tenant: Tenant, start: datetime.date, end: datetime.date) -> Statement:
    """Per currency: the total (level 3), each category (level 1) and each service (level 0)."""
    begin, finish = local_bounds(tenant, start, end)
    return _positional(_REVENUE_BY_SERVICE_SQL, {"tenant": tenant.id, "from": begin, "to": finish})


# The period's sales fully refunded by its end, per set of services (read by month where it can).
_SERVICE_SPANS_BY_END = _spans_given_back_by_end(
    "s.currency, s.services, s.full_sales, s.full_quantities, s.full_discounts",
    "analytics_insightservicespan",
    "analytics_insightservicespanmonth",
    condition="s.full_sales > 0",
)

# The same rows as _REVENUE_BY_SERVICE_SQL, from the aggregates (migrations analytics 0011, 0014):
# a period's days of service money per service, its sales per set of services less those fully
# refunded by its end (the spans, with their discounts: InsightSpan's per set of services),
# and the currency's tips, taxes, discounts and service money as the dashboard reads them. Categories are those of the services now: a sale counts once
# per category of its set of services. Exact sums, each figure rounded once.
_REVENUE_BY_SERVICE_AGGREGATES_SQL = f"""
WITH refunded AS MATERIALIZED (
    -- The period's sales fully refunded by its end: neither transactions nor quantities.
    {_SERVICE_SPANS_BY_END}
),
by_set AS (
    SELECT s.currency, s.services, sum(s.sales) AS sales
    FROM (
        SELECT s.currency, s.services, s.sales
        FROM analytics_insightserviceset s
        WHERE s.tenant_id = %(tenant)s AND {_partial_months("s.day")}
        UNION ALL
        SELECT s.currency, s.services, s.sales
        FROM analytics_insightservicesetmonth s
        WHERE s.tenant_id = %(tenant)s AND s.month >= %(months_from)s AND s.month <= %(months_to)s
        UNION ALL
        SELECT f.currency, f.services, -f.full_sales FROM refunded f
    ) s
    GROUP BY s.currency, s.services
),
service_counts AS (
    SELECT b.currency, u.service_id, sum(b.sales) AS transactions
    FROM by_set b
    CROSS JOIN LATERAL unnest(b.services) AS u(service_id)
    GROUP BY b.currency, u.service_id
),
refunded_quantities AS (
    SELECT f.currency, u.service_id, sum(u.quantity) AS quantity
    FROM refunded f
    CROSS JOIN LATERAL unnest(f.services, f.full_quantities) AS u(service_id, quantity)
    GROUP BY f.currency, u.service_id
),
category_counts AS (
    SELECT b.currency, c.category_id, sum(b.sales) AS transactions
    FROM by_set b
    CROSS JOIN LATERAL (
        SELECT DISTINCT sc.id AS category_id
        FROM unnest(b.services) AS u(service_id)
        LEFT JOIN analytics_service sv ON sv.id = u.service_id AND sv.tenant_id = %(tenant)s
        LEFT JOIN analytics_servicecategory sc ON sc.id = sv.category_id AND sc.tenant_id = %(tenant)s
    ) c
    GROUP BY b.currency, c.category_id
),
currency_counts AS (
    SELECT b.currency, sum(b.sales) AS transactions FROM by_set b GROUP BY b.currency
),
revenue AS (
    SELECT r.currency, r.service_id, sum(r.revenue) AS revenue, sum(r.quantity) AS quantity
    FROM (
        SELECT r.currency, r.service_id, r.revenue, r.quantity
        FROM analytics_insightserviceday r
        WHERE r.tenant_id = %(tenant)s AND {_partial_months("r.day")}
        UNION ALL
        SELECT r.currency, r.service_id, r.revenue, r.quantity
        FROM analytics_insightservicemonth r
        WHERE r.tenant_id = %(tenant)s AND r.month >= %(months_from)s AND r.month <= %(months_to)s
    ) r
    GROUP BY r.currency, r.service_id
),
money AS (
    SELECT d.currency, d.gross - d.refunds AS revenue, d.sale_tips - d.refund_tips AS tips,
           d.sale_taxes - d.refund_taxes AS taxes, d.discounts
    FROM analytics_insightday d
    WHERE d.tenant_id = %(tenant)s AND d.day >= %(start)s AND d.day <= %(end)s
    UNION ALL
    SELECT f.currency, 0, 0, 0, -f.full_discounts FROM refunded f
),
currency_money AS (
    SELECT m.currency, {_rounded_sum("m.tips")} AS tips, {_rounded_sum("m.taxes")} AS taxes,
           sum(m.discounts) AS discounts, {_rounded_sum(_service_money("m.revenue", "m.tips", "m.taxes"))} AS service
    FROM money m
    GROUP BY m.currency
)
SELECT r.currency, GROUPING(sc.id, sv.id) AS level, sc.id, max(sc.name), sv.id, max(sv.name),
       (CASE GROUPING(sc.id, sv.id) WHEN 0 THEN coalesce(max(sf.transactions), 0)
                                    WHEN 1 THEN coalesce(max(cc.transactions), 0)
                                    ELSE coalesce(max(tc.transactions), 0) END)::bigint,
       sum(r.quantity - coalesce(q.quantity, 0)), coalesce(round(sum(r.revenue)), 0),
       coalesce(max(cm.tips), 0), coalesce(max(cm.taxes), 0), coalesce(max(cm.discounts), 0),
       coalesce(max(cm.service), 0)
FROM revenue r
LEFT JOIN analytics_service sv ON sv.id = r.service_id AND sv.tenant_id = %(tenant)s
LEFT JOIN analytics_servicecategory sc ON sc.id = sv.category_id AND sc.tenant_id = %(tenant)s
LEFT JOIN service_counts sf ON sf.currency = r.currency AND sf.service_id IS NOT DISTINCT FROM r.service_id
LEFT JOIN refunded_quantities q ON q.currency = r.currency AND q.service_id IS NOT DISTINCT FROM r.service_id
LEFT JOIN category_counts cc ON cc.currency = r.currency AND cc.category_id IS NOT DISTINCT FROM sc.id
LEFT JOIN currency_counts tc ON tc.currency = r.currency
LEFT JOIN currency_money cm ON cm.currency = r.currency
GROUP BY r.currency, GROUPING SETS ((sc.id, sv.id), (sc.id), ())
ORDER BY r.currency, round(sum(r.revenue)) DESC, max(sc.name), max(sv.name), sc.id, sv.id
"""


def revenue_by_service(*, tenant: Tenant, start: datetime.date, end: datetime.date) -> Answer:
    """Transactions (distinct, not fully refunded), quantity and service revenue (net of the
    period's refunds, without tips and taxes) per category and per service; tips, taxes and
    discounts apart, per currency. From the aggregates when they are ready for the tenant's
    time zone, else from the rows: the same answer either way."""
    require_tenant(tenant)
    validate_period(start, end)
    if aggregates_ready(tenant=tenant):
        statement = _positional(
            _REVENUE_BY_SERVICE_AGGREGATES_SQL,
            {"tenant": tenant.id, "start": start, "end": end, **_month_split(start, end)},
        )
    else:
        statement = revenue_by_service_sql(tenant=tenant, start=start, end=end)
    return _revenue_by_service_answer(tenant, start, end, _run(*statement))


def revenue_by_service_raw(*, tenant: Tenant, start: datetime.date, end: datetime.date) -> Answer:
    """Revenue by service from the rows alone (one statement over the period's sales, refunds
    and their lines): the definition the aggregates are checked against."""
    require_tenant(tenant)
    validate_period(start, end)
    return _revenue_by_service_answer(
        tenant, start, end, _run(*revenue_by_service_sql(tenant=tenant, start=start, end=end))
    )


def _revenue_by_service_answer(tenant: Tenant, start: datetime.date, end: datetime.date, rows: list[Row]) -> Answer:
    groups: dict[str, dict[str, Any]] = {}
    categories: dict[tuple[str, uuid.UUID | None], dict[str, Any]] = {}
    services: list[tuple[str, uuid.UUID | None, dict[str, Any]]] = []
    for currency, level, category_id, category_name, service_id, service_name, count, quantity, revenue, *parts in rows:
        numbers = {"transactions": count, "quantity": quantity, "revenue": int(revenue)}
        if level == 3:
            tips, taxes, discounts, service_revenue = (int(part) for part in parts)
            groups[currency] = {
                "currency": currency,
                **numbers,
                "revenue": service_revenue,  # the dashboard's service_revenue, to the cent
                "tips": tips,
                "taxes": taxes,
                "discounts": discounts,
                "categories": [],
            }
        elif level == 1:
            categories[(currency, category_id)] = {
                "category_id": category_id,
                "category_name": category_name if category_id else UNCATEGORIZED,
                **numbers,
                "services": [],
            }
        else:
            services.append(
                (
                    currency,
                    category_id,
                    {
                        "service_id": service_id,
                        "service_name": service_name if service_id else OTHER_SERVICE,
                        **numbers,
                    },
                )
            )
    # Rows arrive ordered by revenue within each level, so appending keeps that order.
    for (currency, _), category in categories.items():
        groups[currency]["categories"].append(category)
    for currency, category_id, service in services:
        categories[(currency, category_id)]["services"].append(service)
    zero = {
        "transactions": 0,
        "quantity": Decimal("0"),
        "revenue": 0,
        "tips": 0,
        "taxes": 0,
        "discounts": 0,
        "categories": [],
    }
    return {
        "start": start,
        "end": end,
        "currencies": [groups.get(code, {"currency": code, **zero}) for code in _currencies(tenant, set(groups))],
    }


# --- revenue time series -----------------------------------------------------------------

_TIMESERIES_SQL = f"""
SELECT m.currency, date_trunc(%(interval)s, m.at AT TIME ZONE %(timezone)s)::date AS bucket,
       sum(m.money) AS revenue, count(*) FILTER (WHERE m.counted) AS transactions
FROM (
    SELECT t.currency, t.occurred_at AS at, t.total_amount::numeric AS money, {_counts_sql("t", "%(to)s")} AS counted
    FROM analytics_transaction t
    WHERE t.tenant_id = %(tenant)s
      AND t.occurred_at >= %(from)s AND t.occurred_at < %(to)s
      AND t.status IN {_REVENUE_STATUSES}
    UNION ALL
    SELECT r.currency, r.refunded_at, -r.amount::numeric, false
    FROM analytics_refund r
    WHERE r.tenant_id = %(tenant)s
      AND r.refunded_at >= %(from)s AND r.refunded_at < %(to)s
) m
GROUP BY 1, 2
"""


def revenue_timeseries_sql(*, tenant: Tenant, start: datetime.date, end: datetime.date, interval: str) -> Statement:
    """Only the non-empty buckets; `revenue_timeseries` fills the gaps. (Zero-filling in
    SQL with generate_series x currencies misleads the planner's row estimates into
    JIT-compiling a 3 ms query for 200 ms.)"""
    if interval not in INTERVALS:
        raise InvalidInput("interval", f"must be one of {', '.join(INTERVALS)}.")
    begin, finish = local_bounds(tenant, start, end)
    return _positional(
        _TIMESERIES_SQL,
        {
            "tenant": tenant.id,
            "from": begin,
            "to": finish,
            "interval": interval,
            "timezone": tenant.timezone,
        },
    )


_TIMESERIES_AGGREGATES_SQL = """
SELECT m.currency, date_trunc(%(interval)s, m.day::timestamp)::date AS bucket, sum(m.revenue), sum(m.transactions)
FROM (
    SELECT d.currency, d.day, d.gross - d.refunds AS revenue, d.sales AS transactions
    FROM analytics_insightday d
    WHERE d.tenant_id = %(tenant)s AND d.day >= %(start)s AND d.day <= %(end)s
    UNION ALL
    -- The period's sales fully refunded by the end of the requested period.
    SELECT s.currency, s.sale_day, 0, -s.full_sales
    FROM analytics_insightspan s
    WHERE s.tenant_id = %(tenant)s AND s.sale_day >= %(start)s AND s.sale_day <= %(end)s AND s.refund_day <= %(end)s
) m
GROUP BY 1, 2
"""


def revenue_timeseries(*, tenant: Tenant, start: datetime.date, end: datetime.date, interval: str) -> Answer:
    """Zero-filled buckets per currency. A bucket is labeled by its first day (a week's
    Monday, a month's 1st); the first and last buckets only hold the period's days.
    From the aggregates when they are ready, else from the rows (the same answer)."""
    return _revenue_timeseries(tenant, start, end, interval, raw=False)


def revenue_timeseries_raw(*, tenant: Tenant, start: datetime.date, end: datetime.date, interval: str) -> Answer:
    """The time series from the rows alone: the definition the aggregates are checked against."""
    return _revenue_timeseries(tenant, start, end, interval, raw=True)


def _revenue_timeseries(
    tenant: Tenant, start: datetime.date, end: datetime.date, interval: str, *, raw: bool
) -> Answer:
    require_tenant(tenant)
    validate_period(start, end)
    sql, params = revenue_timeseries_sql(tenant=tenant, start=start, end=end, interval=interval)
    if not raw and aggregates_ready(tenant=tenant):
        sql, params = _positional(
            _TIMESERIES_AGGREGATES_SQL, {"tenant": tenant.id, "start": start, "end": end, "interval": interval}
        )
    found: dict[tuple[str, datetime.date], tuple[int, int]] = {}
    for currency, bucket, revenue, count in _run(sql, params):
        found[(currency, bucket)] = (int(revenue), int(count))
    starts = bucket_starts(start, end, interval)

    def buckets(code: str) -> list[dict[str, Any]]:
        figures = (found.get((code, day), (0, 0)) for day in starts)
        return [
            {"start": day, "revenue": revenue, "transactions": count} for day, (revenue, count) in zip(starts, figures)
        ]

    return {
        "start": start,
        "end": end,
        "interval": interval,
        "currencies": [
            {"currency": code, "buckets": buckets(code)}
            for code in _currencies(tenant, {currency for currency, _ in found})
        ],
    }


# --- top clients -------------------------------------------------------------------------

_TOP_CLIENTS_SQL = f"""
WITH moves AS (
    SELECT t.client_id, t.currency, t.total_amount::numeric AS money, {_counts_sql("t", "%(to)s")} AS counted
    FROM analytics_transaction t
    WHERE t.tenant_id = %(tenant)s
      AND t.occurred_at >= %(from)s AND t.occurred_at < %(to)s
      AND t.status IN {_REVENUE_STATUSES} AND t.client_id IS NOT NULL
    UNION ALL
    -- The period's refunds lower the revenue of the sale's client, whatever the sale's date.
    -- Each refund's sale by its key (OFFSET 0 keeps the probe: refunds are a few per cent of
    -- sales, and a join would read every sale of the tenant to find theirs).
    SELECT t.client_id, r.currency, -r.amount::numeric, false
    FROM analytics_refund r
    CROSS JOIN LATERAL (
        SELECT t.client_id FROM analytics_transaction t
        WHERE t.tenant_id = %(tenant)s AND t.id = r.transaction_id
        OFFSET 0
    ) t
    WHERE r.tenant_id = %(tenant)s
      AND r.refunded_at >= %(from)s AND r.refunded_at < %(to)s AND t.client_id IS NOT NULL
),
revenue AS MATERIALIZED (
    -- Only clients with a transaction in the period (a sale not fully refunded) rank.
    SELECT m.client_id, m.currency, sum(m.money) AS revenue, count(*) FILTER (WHERE m.counted) AS transactions
    FROM moves m
    GROUP BY m.client_id, m.currency
    HAVING count(*) FILTER (WHERE m.counted) > 0
),
ranked AS MATERIALIZED (
    -- The best `limit` of each currency: a bounded sort per currency, not a sort of them all.
    SELECT b.*, row_number() OVER (PARTITION BY b.currency ORDER BY b.revenue DESC, b.client_id) AS rank
    FROM (SELECT DISTINCT r.currency FROM revenue r) AS currencies
    CROSS JOIN LATERAL (
        SELECT r.* FROM revenue r WHERE r.currency = currencies.currency
        ORDER BY r.revenue DESC, r.client_id
        LIMIT %(limit)s
    ) b
)
SELECT r.currency, r.client_id, c.first_name, c.last_name, c.email, c.phone, r.revenue, r.transactions,
       coalesce(v.visits, 0), v.last_visit
FROM ranked r
JOIN clients_client c ON c.id = r.client_id AND c.tenant_id = %(tenant)s
LEFT JOIN LATERAL (
    -- Visits in the period; the last visit up to the period's end, however long ago.
    SELECT count(*) FILTER (WHERE a.start_at >= %(from)s) AS visits,
           (max(a.start_at) AT TIME ZONE %(timezone)s)::date AS last_visit
    FROM analytics_appointment a
    WHERE a.tenant_id = %(tenant)s AND a.client_id = r.client_id AND a.status = 'completed' AND a.start_at < %(to)s
) v ON true
ORDER BY r.currency = %(tenant_currency)s DESC, r.currency, r.rank
"""


def top_clients_sql(*, tenant: Tenant, start: datetime.date, end: datetime.date, limit: int) -> Statement:
    begin, finish = local_bounds(tenant, start, end)
    return _positional(
        _TOP_CLIENTS_SQL,
        {
            "tenant": tenant.id,
            "from": begin,
            "to": finish,
            "limit": limit,
            "timezone": tenant.timezone,
            "tenant_currency": tenant.currency,
        },
    )


def top_clients(*, tenant: Tenant, start: datetime.date, end: datetime.date, limit: int) -> Answer:
    """The `limit` best clients by revenue in the period, per currency."""
    require_tenant(tenant)
    validate_period(start, end)
    if not 1 <= limit <= MAX_TOP_CLIENTS:
        raise InvalidInput("limit", f"must be between 1 and {MAX_TOP_CLIENTS}.")
    groups: dict[str, list[dict[str, Any]]] = {tenant.currency: []}
    for currency, client_id, first, last, email, phone, revenue, count, visits, last_visit in _run(
        *top_clients_sql(tenant=tenant, start=start, end=end, limit=limit)
    ):
        groups.setdefault(currency, []).append(
            {
                "client_id": client_id,
                "name": display_name_of(first, last, email, phone),  # as the client list names them
                "revenue": int(revenue),
                "transactions": count,
                "visits": visits,
                "last_visit": last_visit,
            }
        )
    return {
        "start": start,
        "end": end,
        "limit": limit,
        "currencies": [{"currency": code, "clients": clients} for code, clients in groups.items()],
    }
