"""Section 6 reports a rate only for work that succeeded (issue 15: the CSV figure used to be
the speed at which 500 invalid rows failed)."""

from __future__ import annotations

import phonenumbers
import pytest

from bench import background
from clients.models import Client
from conftest import make_tenant
from tenants.context import tenant_context


def test_the_generated_csv_rows_hold_valid_phone_numbers():
    lines = background.csv_lines(2, 300, salt="a1b2c3")
    phones = [line.split(",")[3] for line in lines[1:]]
    assert len(set(phones)) == 300
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)


def test_csv_import_figure_counts_clients_really_created(committed):
    tenant, _ = make_tenant("Bench CSV")
    result = background.csv_rows_per_second([tenant], rows=20, repeat=1)
    assert result["available"] and result["per_second"]["median"] > 0
    assert result["outcomes"][0]["clients_created"] == 20
    assert result["outcomes"][0]["counts"]["created"] == 20
    with tenant_context(tenant.id, role="owner_admin"):
        assert Client.objects.filter(tenant_id=tenant.id).count() == 20


def test_csv_import_whose_rows_fail_fails_the_section(committed, monkeypatch):
    # Rows that fail as a whole: no name, and an e-mail and a phone (what the benchmark used
    # to send: a number phonenumbers refuses) that are both dropped, so nothing identifies them.
    def invalid(run, rows, *, salt):
        return ["First Name,Last Name,Email,Phone,Birthday"] + [
            f",,csv.{salt}.{n}-at-bench.test,+1415000{n:04d},1990-01-01" for n in range(rows)
        ]

    monkeypatch.setattr(background, "csv_lines", invalid)
    tenant, _ = make_tenant("Bench CSV invalid")
    with pytest.raises(background.WorkFailed, match="did not create its 5 clients"):
        background.csv_rows_per_second([tenant], rows=5, repeat=1)


def test_a_birthday_batch_that_makes_no_drafts_fails_the_section(committed):
    tenant, _ = make_tenant("Bench no birthdays")  # no clients: nothing to draft
    with pytest.raises(background.WorkFailed, match="0 drafts made"):
        background.birthday_drafts_per_second([tenant], repeat=1)


def test_the_command_fails_when_a_section_failed(monkeypatch):
    from django.core.management import CommandError, call_command

    from bench import run as bench_run

    monkeypatch.setattr(
        bench_run, "run", lambda options, log: {"meta": {}, "failed": ["background.csv_import: FAILED: no rows"]}
    )
    monkeypatch.setattr("bench.report.render", lambda results: "report")
    with pytest.raises(CommandError, match="background.csv_import: FAILED: no rows"):
        call_command("benchmark", "--tenants", "1")
