"""`manage.py benchmark --scale big-tenant` end to end at a tiny size: the JSON section holds
exactly what a script checks (insights, lists, CSV import), every figure is a positive
number, every CSV row was imported, and nothing is left behind. No timing thresholds."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bench.big_tenant import insight_routes
from bench.tests.test_benchmark import _leftovers


@pytest.fixture(scope="module")
def results(django_db_setup, django_db_blocker, tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "big.json"
    with django_db_blocker.unblock():
        call_command(
            "benchmark",
            "--scale",
            "big-tenant",
            "--tenants",
            "3",
            "--clients-per-tenant",
            "20",
            "--transactions-per-tenant",
            "30",
            "--big-clients",
            "300",
            "--big-transactions",
            "3000",
            "--csv-rows",
            "40,120",
            "--repeat",
            "2",
            "--json",
            str(path),
        )
    return json.loads(path.read_text())


def _positive(figure: dict) -> None:
    assert set(figure) == {"big_ms", "small_ms"}
    assert figure["big_ms"] > 0 and figure["small_ms"] > 0


def test_the_big_tenant_section_holds_exactly_the_checked_figures(results):
    section = results["big_tenant"]
    assert set(section) == {"insights", "lists", "csv_import"}
    names = {name for name, _path in insight_routes()}
    assert "dashboard" in names
    assert set(section["insights"]) == names - set(results["meta"]["insights_skipped"])
    assert "dashboard" in section["insights"], results["meta"]["insights_skipped"]
    for entry in section["insights"].values():
        assert set(entry) == {"month", "year"}
        for figure in entry.values():
            _positive(figure)
    assert set(section["lists"]) == {"client_list", "client_search", "birthdays"}
    for figure in section["lists"].values():
        _positive(figure)
    assert section["csv_import"].keys() == {"40", "120"}
    for rows, figure in section["csv_import"].items():
        assert figure["created"] == int(rows) and figure["rows_per_second"] > 0


def test_the_big_tenant_was_loaded_big(results):
    assert results["meta"]["big"] == {"clients": 300, "transactions": 3000}
    assert results["meta"]["small"]["tenants"] == 3


def test_nothing_is_left_behind(results):
    assert _leftovers() == ([], [])


def test_each_list_says_how_many_clients_it_answered(results):
    # Both tenants' answers, so a ratio of pages of different sizes shows as such.
    returned = results["meta"]["lists_returned"]
    assert set(returned) == {"client_list", "client_search", "birthdays"}
    # The client list is a page of 50: the big tenant (300 clients) fills it, a small one (20) cannot.
    assert returned["client_list"] == {"big": 50, "small": 20}
    for counts in returned.values():
        assert set(counts) == {"big", "small"} and min(counts.values()) >= 0


def test_a_kept_database_is_measured_again_without_loading(django_db_setup, django_db_blocker, tmp_path):
    def sizes(big_transactions: int) -> list[str]:
        return [
            *("--scale", "big-tenant", "--tenants", "2", "--clients-per-tenant", "10"),
            *("--transactions-per-tenant", "10", "--big-clients", "50", "--repeat", "1"),
            *("--big-transactions", str(big_transactions), "--csv-rows", ""),
        ]

    with django_db_blocker.unblock():
        call_command("benchmark", *sizes(200), "--keep", "--json", str(tmp_path / "first.json"))
        kept = json.loads((tmp_path / "first.json").read_text())["meta"]["database"]
        with pytest.raises(CommandError, match="--csv-rows"):
            call_command("benchmark", *sizes(200)[:-2], "--reuse-database", kept)
        with pytest.raises(ValueError, match="not 3 and 201"):
            call_command("benchmark", *sizes(201), "--reuse-database", kept, "--keep")
        # Measured again, then dropped (no --keep).
        call_command("benchmark", *sizes(200), "--reuse-database", kept, "--json", str(tmp_path / "again.json"))
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["meta"]["database"] == kept
    assert again["meta"]["load_seconds"] == 0
    assert set(again["big_tenant"]["lists"]) == {"client_list", "client_search", "birthdays"}
    assert "dashboard" in again["big_tenant"]["insights"]
    assert _leftovers() == ([], [])


def test_only_csv_measures_the_imports_alone_and_keeps_the_shape(django_db_setup, django_db_blocker, tmp_path):
    path = tmp_path / "csv.json"
    with django_db_blocker.unblock():
        call_command(
            "benchmark",
            "--scale",
            "big-tenant",
            "--only",
            "csv",
            "--tenants",
            "3",
            "--clients-per-tenant",
            "5",
            "--transactions-per-tenant",
            "5",
            "--big-clients",
            "20",
            "--big-transactions",
            "50",
            "--csv-rows",
            "30",
            "--json",
            str(path),
        )
    section = json.loads(path.read_text())["big_tenant"]
    assert section["insights"] == {} and section["lists"] == {}
    assert section["csv_import"]["30"]["created"] == 30 and section["csv_import"]["30"]["rows_per_second"] > 0
    assert _leftovers() == ([], [])


def test_only_names_known_sections():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--only"):
        call_command("benchmark", "--scale", "big-tenant", "--only", "csv,everything")


def test_a_kept_database_measures_the_imports_again_into_new_tenants(django_db_setup, django_db_blocker, tmp_path):
    """With the imports named (--only csv), a reused database measures them again, each into a
    new, empty tenant (the earlier run's are in the small ones): every row is created again,
    and the database still describes as loaded. A copy not named brandvx_bench_... only with
    --keep (it is not the benchmark's to drop)."""
    from bench import database

    sizes = [
        *("--scale", "big-tenant", "--tenants", "3", "--clients-per-tenant", "5", "--repeat", "1"),
        *("--transactions-per-tenant", "5", "--big-clients", "20", "--big-transactions", "50"),
    ]
    with django_db_blocker.unblock():
        call_command("benchmark", *sizes, "--only", "csv", "--csv-rows", "30", "--keep", "--json", str(tmp_path / "a"))
        kept = json.loads((tmp_path / "a").read_text())["meta"]["database"]
        for _ in range(2):
            call_command(
                "benchmark", *sizes, "--only", "csv", "--csv-rows", "30", "--reuse-database", kept, "--keep",
                "--json", str(tmp_path / "b"),
            )  # fmt: skip
            again = json.loads((tmp_path / "b").read_text())["big_tenant"]["csv_import"]
            assert again["30"]["created"] == 30
        with database._admin(kept) as conn:
            tenants = dict(
                conn.execute(
                    "SELECT slug LIKE 'bench-csv-import-%%', count(*) FROM tenants_tenant GROUP BY 1"
                ).fetchall()
            )
        assert tenants == {False: 4, True: 2}
        with pytest.raises(ValueError, match="without --keep"):
            database.attach("a_copy_of_it")
        call_command("benchmark", *sizes, "--csv-rows", "", "--reuse-database", kept)  # measured, then dropped
    assert _leftovers() == ([], [])
