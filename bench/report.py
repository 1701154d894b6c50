"""The printed table, and the goals of issues 8 and 15 checked against the figures."""

from __future__ import annotations

from typing import Any

ANALYTICS = ("dashboard", "revenue_by_service", "revenue_timeseries")


def _m(s: dict[str, Any] | None, digits: int = 3) -> str:
    if not s or s.get("median") is None:
        return "-"
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"


def _r(s: dict[str, Any] | None) -> str:
    if not s or s.get("median") is None:
        return "-"
    return f"{s['median']:.2f}x"


def _us(s: dict[str, Any] | None) -> str:
    if not s or s.get("median") is None:
        return "-"
    return f"{s['median']:+.0f}"


def goals(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(goal, figure, PASS/MISS/n.a.)"""
    checks: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    for name, e in results.get("endpoints", {}).items():
        ratio = (e.get("isolated_over_not_isolated") or {}).get("median")
        checks.append(
            (
                f"endpoint {name}: isolated/not isolated <= 1.05",
                f"{ratio:.3f}" if ratio else "n/a",
                verdict(None if ratio is None else ratio <= 1.05),
            )
        )
    rt = results.get("round_trips", {})
    available = [e for e in rt.values() if e.get("available")]
    # One transaction per request and one context statement in it, folded into the membership
    # lookup (the tenant the request names rides along; the view finds it set).
    transactions = max((e.get("transactions", 0) for e in available), default=0)
    contexts = max((e.get("set_config_per_transaction_max", 0) for e in available), default=0)
    extra = max((e.get("extra_round_trips_for_context", 0) for e in available), default=0)
    checks.append(
        (
            "context: one transaction and one context statement per request, no extra round trip",
            f"{transactions} transaction(s), {contexts} folded set_config, {extra} extra" if available else "n/a",
            verdict(None if not available else transactions == 1 and contexts == 1 and extra == 0),
        )
    )
    sql = {k: v for k, v in results.get("sql", {}).items() if v.get("ratio_folded") and k != "client_list_statement"}
    if sql:
        smallest = min(sql, key=lambda k: sql[k]["ms"]["bypass"]["median"])
        ratio = sql[smallest]["ratio_folded"]["median"]
        checks.append(
            (f"SQL smallest hot query ({smallest}): RLS/bypass <= 1.2", f"{ratio:.3f}", verdict(ratio <= 1.2))
        )
        for name in ANALYTICS:
            if name in sql:
                ratio = sql[name]["ratio_folded"]["median"]
                checks.append((f"SQL {name}: RLS/bypass <= 1.05", f"{ratio:.3f}", verdict(ratio <= 1.05)))
    single = results.get("sql", {}).get("client_list_statement", {}).get("ratio_folded")
    if single:
        checks.append(
            (
                "SQL 50-row client list statement alone: RLS/bypass <= 1.2",
                f"{single['median']:.3f}",
                verdict(single["median"] <= 1.2),
            )
        )
    for name in ANALYTICS:
        e = results.get("endpoints", {}).get(name, {})
        ratio = (e.get("endpoint_over_bare_sql") or {}).get("median")
        checks.append(
            (
                f"endpoint {name} / bare SQL <= 1.5",
                f"{ratio:.2f}" if ratio else "n/a",
                verdict(None if ratio is None else ratio <= 1.5),
            )
        )
    ratio = (results.get("throughput", {}).get("ratio") or {}).get("median")
    checks.append(
        (
            "throughput isolated/not isolated >= 0.95",
            f"{ratio:.3f}" if ratio else "n/a",
            verdict(None if ratio is None else ratio >= 0.95),
        )
    )
    return checks


LISTS = ("client_list", "client_search", "birthdays")


def speed_goals(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Issue 15's targets: (goal, figure, PASS/MISS/n/a)."""
    checks: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    def median(entry: dict[str, Any] | None) -> float | None:
        return (entry or {}).get("median")

    endpoints = results.get("endpoints", {})
    for names, limit in ((LISTS, 2.0), (ANALYTICS, 1.3)):
        for name in names:
            ratio = median(endpoints.get(name, {}).get("endpoint_over_bare_sql"))
            checks.append(
                (
                    f"endpoint {name} / bare SQL <= {limit}",
                    f"{ratio:.2f}" if ratio else "n/a",
                    verdict(None if ratio is None else ratio <= limit),
                )
            )
    for name in (*LISTS, *ANALYTICS):
        ratio = median(endpoints.get(name, {}).get("isolated_over_not_isolated"))
        checks.append(
            (
                f"endpoint {name}: isolated/not isolated <= 1.05",
                f"{ratio:.3f}" if ratio else "n/a",
                verdict(None if ratio is None else ratio <= 1.05),
            )
        )
    me = median(results.get("me", {}).get("ms"))
    checks.append(
        (
            "authenticated GET /api/v1/me/ in-process <= 1.5 ms",
            f"{me:.3f} ms" if me else "n/a",
            verdict(None if not me else me <= 1.5),
        )
    )
    rps = median(results.get("throughput", {}).get("rps", {}).get("isolated"))
    before = results["meta"].get("baseline_rps")
    checks.append(
        (
            "client-list throughput >= 2x before (--baseline-rps)",
            f"{rps:.1f} vs {before:.1f} req/s ({rps / before:.2f}x)" if rps and before else "n/a",
            verdict(None if not (rps and before) else rps >= 2 * before),
        )
    )
    peers = results.get("peers", {})
    if peers.get("available"):
        ratios = {name: median(r) for name, r in peers.get("rps_over_this_project", {}).items()}
        worst = max((ratio for ratio in ratios.values() if ratio is not None), default=None)
        checks.append(
            (
                "client-list throughput >= every peer's (peer / this project <= 1)",
                ", ".join(f"{name} {ratio:.2f}" for name, ratio in ratios.items() if ratio is not None) or "n/a",
                verdict(None if worst is None else worst <= 1.0),
            )
        )
    return checks


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    m = meta.get("machine", {})
    lines = [
        f"BrandVX benchmark - {meta['date']} - scale {meta['scale']}: {meta['tenants']:,} tenants x "
        f"{meta['clients_per_tenant']:,} clients x {meta['transactions_per_tenant']:,} transactions, repeat {meta['repeat']}",
        f"machine: {m.get('cpu')} ({m.get('cores')} cores, {m.get('memory_gb')} GB); PostgreSQL {meta.get('postgres')} "
        f"over {meta.get('connection')}; Python {m.get('python')}",
    ]
    if "data" in results:
        rows = results["data"]["rows"]
        lines.append(
            f"data: {sum(rows.values()):,} rows loaded in {results['data']['load_seconds']}s "
            f"(clients {rows.get('clients_client', 0):,}, transactions {rows.get('analytics_transaction', 0):,}, "
            f"line items {rows.get('analytics_transactionlineitem', 0):,}, appointments {rows.get('analytics_appointment', 0):,})"
        )
    if meta.get("loadavg_at_start"):
        lines.append(
            f"load average (1, 5, 15 min) at the start of the measurements {meta['loadavg_at_start']}, "
            f"at the end {meta.get('loadavg_at_end')} ({m.get('cores')} cores: above that, figures are noisy)"
        )
    if meta.get("baseline"):
        lines.append(f"NO BASELINE: {meta['baseline']}")
    lines += [
        "",
        "1. Isolation at the SQL level: one transaction (BEGIN, statements, COMMIT), ms median [min-max];",
        "   ratio and added us are computed pair by pair against the BYPASSRLS role running the same SQL;",
        "   the added us split into the set_config (BYPASSRLS role sending the same settings) and the policies",
        f"   {'query':<23}{'source':<12}{'bypass':<24}{'RLS folded':<24}{'ratio':>7}{'+us':>6}   "
        f"{'RLS separate':<24}{'ratio':>7}{'+us':>6}{'rows':>6}{'set_config us':>15}{'policies us':>13}",
    ]
    for name, e in results.get("sql", {}).items():
        if "ms" not in e:
            lines.append(f"   {name:<23}{e.get('source', '')[:11]:<12}{e.get('reason', 'not available')}")
            continue
        ms = e["ms"]
        rows = e["rows"]["rls_folded"]
        flag = "" if e.get("rows_match", True) else "  (bypass saw other rows!)"
        lines.append(
            f"   {name:<23}{e['source'][:11]:<12}{_m(ms.get('bypass')):<24}{_m(ms['rls_folded']):<24}"
            f"{_r(e.get('ratio_folded')):>7}{_us(e.get('added_us_folded')):>6}   {_m(ms['rls_separate']):<24}"
            f"{_r(e.get('ratio_separate')):>7}{_us(e.get('added_us_separate')):>6}{rows:>6}"
            f"{_us(e.get('added_us_set_config')):>15}{_us(e.get('added_us_policies')):>13}{flag}"
        )
    lines += [
        "",
        "1b. The context statement and the policy form, per transaction (runtime role, ms median):",
        "   context: folded SELECT set_config (one node) vs SET LOCAL as its own statement (Citus);",
        "   policy: (select <setting>) (one node) vs the bare <setting> (Citus), forms alternating round by round",
        f"   {'query':<23}{'+us folded':>11}{'+us SET LOCAL':>14}   {'sub-select':<24}{'bare':<24}{'bare/sub':>9}",
    ]
    forms = results.get("policy_forms", {})
    for name, e in results.get("sql", {}).items():
        if "ms" not in e:
            continue
        f = forms.get(name, {})
        fms = f.get("ms", {})
        lines.append(
            f"   {name:<23}{_us(e.get('added_us_folded')):>11}{_us(e.get('added_us_set_local')):>14}   "
            f"{_m(fms.get('subselect')):<24}{_m(fms.get('bare')):<24}{_r(f.get('ratio_bare_to_subselect')):>9}"
        )
    lines += [
        "",
        "2-3. Endpoints through Django in-process (test client, no network), ms median [min-max]",
        f"   {'endpoint':<20}{'isolated':<24}{'not isolated':<24}{'ratio':>7}   {'bare SQL':<24}{'endpoint/SQL':>12}  same body",
    ]
    for name, e in results.get("endpoints", {}).items():
        if not e.get("available"):
            lines.append(f"   {name:<20}not available: {e.get('reason', '')[:100]}")
            continue
        ms = e["ms"]
        lines.append(
            f"   {name:<20}{_m(ms['isolated']):<24}{_m(ms.get('not_isolated')):<24}{_r(e.get('isolated_over_not_isolated')):>7}   "
            f"{_m(ms['bare_sql']):<24}{_r(e['endpoint_over_bare_sql']):>12}  {e.get('same_response', '-')}"
        )
    lines += [
        "",
        "4. Round trips per request (folded context: the settings ride on the first statement of each transaction)",
        f"   {'endpoint':<20}{'statements':>10}{'transactions':>13}{'round trips':>12}{'set_config/tx':>15}{'extra for context':>18}",
    ]
    for name, e in results.get("round_trips", {}).items():
        if not e.get("available"):
            lines.append(f"   {name:<20}not available")
            continue
        lines.append(
            f"   {name:<20}{e['statements']:>10}{e['transactions']:>13}{e['round_trips']:>12}"
            f"{str(e['context_statements_per_transaction']):>15}{e['extra_round_trips_for_context']:>18}"
        )
    t = results.get("throughput", {})
    lines += ["", "5. Throughput through gunicorn on 127.0.0.1, client list"]
    if t.get("available"):
        lines.append(
            f"   {t['concurrency']} clients, {t['pairs']} interleaved pairs of {t['burst_seconds']}s bursts, {t['workers']}"
        )
        lines.append(
            f"   isolated {_m(t['rps']['isolated'], 1)} req/s (p50 {_m(t['p50_ms']['isolated'], 2)} ms); "
            f"not isolated {_m(t['rps']['not_isolated'], 1)} req/s (p50 {_m(t['p50_ms']['not_isolated'], 2)} ms); "
            f"ratio {_r(t['ratio'])}; errors {t['errors']}"
        )
    else:
        lines.append(f"   not available: {t.get('reason', '')}")
    b = results.get("background", {})
    lines += ["", "6. Background work"]
    for key, label, unit in (
        ("birthday_drafts", "birthday drafts", "drafts/s"),
        ("csv_import", "CSV import", "rows/s"),
    ):
        e = b.get(key, {})
        if e.get("available"):
            extra = f" ({e['note']})" if e.get("note") else ""
            lines.append(f"   {label:<18}{_m(e['per_second'], 1)} {unit}{extra}")
        else:
            lines.append(f"   {label:<18}{e.get('reason', 'not available')}")
    p = results.get("peers")
    if p is not None:
        lines += ["", "7. Peers: the same 50-row client list, same data; ratios to this project, pair by pair"]
        if p.get("available"):
            lines.append(
                f"   {p['tenants']:,} tenants; in-process: Django test client, one process per server; "
                f"gunicorn {p['workers']}, {p['concurrency']} clients, {p['pairs']} rounds of {p['burst_seconds']}s"
            )
            lines.append(
                f"   {'server':<16}{'in-process ms':<24}{'latency ratio':>14}   {'req/s':<24}{'req/s ratio':>12}{'errors':>8}"
            )
            for name, ms in p["in_process_ms"].items():
                lines.append(
                    f"   {name:<16}{_m(ms):<24}{_r(p['latency_over_this_project'].get(name)) if name in p['latency_over_this_project'] else '1.00x':>14}   "
                    f"{_m(p['rps'][name], 1):<24}{_r(p['rps_over_this_project'].get(name)) if name in p['rps_over_this_project'] else '1.00x':>12}"
                    f"{p['errors'][name]:>8}"
                )
            same = {
                name: a.get("same_body_as_this_project")
                for name, a in p["answers_in_process"].items()
                if name != "this_project"
            }
            lines.append(
                f"   same clients in the same order everywhere; the same results (JSON) as this project: {same}"
            )
            lines.append(f"   ({p['note']})")
        else:
            lines.append(f"   {p.get('reason', 'not available')}")
    if results.get("explain"):
        lines += ["", "Plans (EXPLAIN ANALYZE as the runtime role under RLS): indexes used / sequential scans"]
        for name, plans in results["explain"].items():
            for plan in plans:
                if "error" in plan:
                    lines.append(f"   {name:<20}error: {plan['error'][:100]}")
                    continue
                lines.append(
                    f"   {name:<20}exec {plan['execution_ms']} ms, plan {plan['planning_ms']} ms  indexes {', '.join(plan['indexes']) or '-'}"
                    f"  seq scans {', '.join(plan['seq_scans']) or '-'}"
                )
    sources = {e.get("source") for e in results.get("sql", {}).values()}
    lines += [
        "",
        "SQL sources: endpoint = the statements the endpoint's view transaction sent (captured); "
        "builtin = the benchmark's equivalent (endpoint missing)"
        if sources - {"endpoint"}
        else "SQL source: the statements each endpoint's view transaction sent, captured in-process",
    ]
    me = results.get("me", {})
    if me:
        lines += ["", "Authenticated GET /api/v1/me/ in-process (token, membership, context, DRF; no query of its own)"]
        lines.append(f"   {_m(me.get('ms'))} ms" if me.get("available") else f"   {me.get('reason')}")
    lines += ["", "Goals (issue 8)"]
    for goal, figure, verdict in goals(results):
        lines.append(f"   {verdict:<5}{goal:<76}{figure}")
    lines += ["", "Goals (issue 15: speed)"]
    for goal, figure, verdict in speed_goals(results):
        lines.append(f"   {verdict:<5}{goal:<76}{figure}")
    return "\n".join(lines)
