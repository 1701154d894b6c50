"""`manage.py benchmark --scale big-tenant` end to end at a tiny size: the JSON section holds
exactly what a script checks (insights, lists, CSV import), every figure is a positive
number, every CSV row was imported, and nothing is left behind. No timing thresholds."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

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
