"""The benchmark command end to end at a tiny scale: its sections exist and hold sane values.

No timing thresholds: a shared CI machine decides those, not the code. What is asserted is
what must hold on any machine: the context costs one set_config per transaction and no
extra round trip, the baseline sees the same rows, every figure is a positive number, and
the benchmark leaves no database or role behind.
"""

from __future__ import annotations

import json

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command

from bench.database import _conninfo

HOT = ["client_list", "client_search", "birthdays", "dashboard", "revenue_by_service", "revenue_timeseries"]


def _leftovers() -> tuple[list, list]:
    owner = settings.DATABASES["owner"]
    with psycopg.connect(
        **_conninfo(dbname="postgres", user=owner["USER"], password=owner["PASSWORD"]), autocommit=True
    ) as conn:
        from os import getpid

        # The benchmark's database and its peers' (brandvx_bench_<pid>_<peer>).
        databases = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
            [f"brandvx_bench_{getpid()}", f"brandvx_bench_{getpid()}\\_%"],
        ).fetchall()
        roles = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = %s", [f"brandvx_bench_bypass_{getpid()}"]
        ).fetchall()
    return databases, roles


@pytest.fixture(scope="module")
def results(django_db_setup, django_db_blocker, tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    with django_db_blocker.unblock():
        call_command(
            "benchmark",
            "--tenants",
            "3",
            "--clients-per-tenant",
            "50",
            "--transactions-per-tenant",
            "50",
            "--repeat",
            "3",
            "--throughput-seconds",
            "0.3",
            "--json",
            str(path),
        )
    return json.loads(path.read_text())


def test_every_section_is_reported(results):
    assert {
        "meta",
        "data",
        "sql",
        "endpoints",
        "me",
        "round_trips",
        "throughput",
        "background",
        "explain",
        "peers",
    } <= set(results)
    assert results["me"]["available"] and results["me"]["ms"]["median"] > 0
    assert results["data"]["rows"]["clients_client"] == 150
    assert results["data"]["rows"]["analytics_transaction"] == 150
    assert set(HOT) <= set(results["sql"])
    assert set(results["endpoints"]) == set(HOT)


def test_sql_level_figures_are_pairwise_ratios_over_the_same_rows(results):
    for name, entry in results["sql"].items():
        assert entry["ratio_folded"]["median"] > 0, name
        assert entry["ratio_separate"]["median"] > 0, name
        assert entry["ms"]["bypass"]["n"] == 3, name
        # The baseline runs the same SQL without RLS: the query's own tenant filter must
        # make it see exactly the rows the runtime role sees under RLS.
        assert entry["rows_match"], name


def test_a_request_is_one_transaction_and_its_context_costs_no_round_trip(results):
    available = {n: e for n, e in results["round_trips"].items() if e["available"]}
    for name, entry in available.items():
        # One transaction and one context statement in it, folded into the membership lookup:
        # the tenant the request names rides along with the user and, once verified, is
        # already what the view needs.
        assert entry["transactions"] == 1, name
        assert entry["context_statements_per_transaction"] == [1], name
        assert entry["set_config_per_transaction_max"] == 1
        assert entry["extra_round_trips_for_context"] == 0
        assert entry["round_trips"] == entry["statements"] + 2 * entry["transactions"]


def test_endpoint_figures_are_positive_and_the_baseline_answers_the_same(results):
    for name, entry in results["endpoints"].items():
        if not entry["available"]:
            assert entry["reason"], name
            continue
        assert entry["isolated_over_not_isolated"]["median"] > 0, name
        assert entry["endpoint_over_bare_sql"]["median"] > 0, name
        assert entry["baseline_status"] == 200, name


def test_throughput_and_background_work(results):
    throughput = results["throughput"]
    if throughput["available"]:
        assert throughput["ratio"]["median"] > 0
        assert throughput["errors"] == {"isolated": 0, "not_isolated": 0}
    # Both services exist: their figures are reported, and only for work that succeeded.
    assert results["failed"] == []
    drafts, csv = results["background"]["birthday_drafts"], results["background"]["csv_import"]
    assert drafts["available"] and drafts["per_second"]["median"] > 0 and all(drafts["drafts_per_run"])
    assert csv["available"] and csv["per_second"]["median"] > 0
    assert all(o["status"] == "succeeded" and o["clients_created"] == csv["rows_per_run"] for o in csv["outcomes"])


def test_plans_are_reported_for_every_hot_query(results):
    for name in HOT:
        assert results["explain"][name], name
        assert all("plan" in plan or "error" in plan for plan in results["explain"][name])


def test_nothing_is_left_behind(results):
    assert _leftovers() == ([], [])


def test_every_peer_serves_the_same_50_row_client_list(results):
    peers = results["peers"]
    assert peers["available"], peers.get("reason")
    names = {"this_project", "django_tenants", "django_rls", "plain_drf"}
    assert set(peers["answers_in_process"]) == set(peers["answers_http"]) == names
    for name in names:
        answer = peers["answers_in_process"][name]
        assert (answer["status"], answer["rows"]) == (200, 50), name
        # The section checked that every peer served this project's clients, in its order.
        assert answer["same_body_as_this_project"] is True, name
        assert peers["answers_http"][name] == {"status": 200, "rows": 50}, name
        assert peers["in_process_ms"][name]["median"] > 0 and peers["rps"][name]["median"] > 0, name
        assert peers["errors"][name] == 0, name
    for name in names - {"this_project"}:
        assert peers["latency_over_this_project"][name]["median"] > 0, name
        assert peers["rps_over_this_project"][name]["median"] > 0, name
