"""`manage.py benchmark`: the cost of tenant isolation and the throughput of the hot paths.

Creates its own database (brandvx_bench_<pid>) and a temporary BYPASSRLS role on the
DATABASE_URL server, loads data with set-based SQL, measures, prints a table, drops both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.loader import SCALES


class Command(BaseCommand):
    help = "Measure the cost of tenant isolation (RLS) and the throughput of the hot paths, side by side."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            choices=[*sorted(SCALES), "big-tenant"],
            default="small",
            help="small: a few minutes; large: 1,000 tenants, 1,000,000 clients, 5,000,000 transactions; "
            "big-tenant: one tenant of 100,000 clients and 1,000,000 sales over 3 years beside 100 small "
            "ones (bench/big_tenant.py; sizes: --big-clients, --big-transactions, --tenants, --csv-rows).",
        )
        parser.add_argument("--big-clients", type=int, default=100_000, help="big-tenant: the big tenant's clients.")
        parser.add_argument(
            "--big-transactions", type=int, default=1_000_000, help="big-tenant: the big tenant's sales."
        )
        parser.add_argument(
            "--csv-rows",
            default="10000,100000",
            help="big-tenant: the CSV imports measured, rows per file (comma-separated).",
        )
        parser.add_argument(
            "--only",
            default=None,
            help="big-tenant: the sections measured, comma-separated among insights, lists, csv "
            "(default: all; e.g. --only csv: the CSV imports alone; the JSON keeps its shape).",
        )
        parser.add_argument("--tenants", type=int, help="Override the scale's number of tenants.")
        parser.add_argument("--clients-per-tenant", type=int)
        parser.add_argument("--transactions-per-tenant", type=int)
        parser.add_argument("--repeat", type=int, help="Runs per figure (each figure is a median with min and max).")
        parser.add_argument("--concurrency", type=int, default=8, help="Concurrent clients for the throughput test.")
        parser.add_argument("--throughput-seconds", type=float, help="Length of each throughput burst.")
        parser.add_argument(
            "--baseline-rps",
            type=float,
            help="Client-list requests/s measured before a change on the same machine and scale: "
            "the goal 'throughput >= 2x before' is checked against it.",
        )
        parser.add_argument("--json", dest="json_path", help="Write every figure (and the plans) as JSON here.")
        parser.add_argument(
            "--database-url",
            dest="database_url",
            help="Measure on this server instead of DATABASE_URL's (an owner/superuser URL; a Citus "
            "coordinator works: the benchmark database is made on every node and distributed).",
        )
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark database afterwards.")
        parser.add_argument(
            "--no-peers",
            dest="peers",
            action="store_false",
            help="Skip the peers section (django-tenants, django-rls, plain DRF).",
        )
        parser.add_argument(
            "--reuse-database",
            dest="database",
            help="Measure on a database kept by an earlier run with the same sizes (brandvx_bench_...); "
            "skips loading. Dropped afterwards unless --keep.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from bench.report import render
        from bench.run import Options, run

        for name in (
            "tenants",
            "clients_per_tenant",
            "transactions_per_tenant",
            "repeat",
            "concurrency",
            "big_clients",
            "big_transactions",
        ):
            if options.get(name) is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
        if options["database_url"]:
            from bench.database import point_django_at_server

            point_django_at_server(options["database_url"])
        if options["scale"] == "big-tenant":
            self._big_tenant(options)
            return
        bench_options = Options(
            scale=options["scale"],
            tenants=options["tenants"],
            clients_per_tenant=options["clients_per_tenant"],
            transactions_per_tenant=options["transactions_per_tenant"],
            repeat=options["repeat"],
            concurrency=options["concurrency"],
            throughput_seconds=options["throughput_seconds"],
            keep=options["keep"],
            database=options["database"],
            peers=options["peers"],
            baseline_rps=options["baseline_rps"],
        )
        results = run(bench_options, log=lambda message: self.stderr.write(message))
        self.stdout.write(render(results))
        if options["json_path"]:
            path = Path(options["json_path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=2, default=str))
            self.stderr.write(f"wrote {path}")
        if results.get("failed"):
            # A section whose work did not succeed has no figure: the run fails, loudly.
            raise CommandError("benchmark work failed: " + "; ".join(results["failed"]))

    def _big_tenant(self, options: dict[str, Any]) -> None:
        from bench import big_tenant

        try:
            csv_rows = tuple(int(rows) for rows in options["csv_rows"].split(",") if rows.strip())
        except ValueError:
            raise CommandError("--csv-rows: comma-separated row counts, e.g. 10000,100000") from None
        only = tuple(part.strip() for part in (options["only"] or "insights,lists,csv").split(",") if part.strip())
        if not only or set(only) - {"insights", "lists", "csv"}:
            raise CommandError("--only: comma-separated among insights, lists, csv")
        if any(rows < 1 for rows in csv_rows):
            raise CommandError("--csv-rows: each count must be at least 1")
        bench_options = big_tenant.BigTenantOptions(
            small_tenants=options["tenants"] or 100,
            clients_per_tenant=options["clients_per_tenant"] or 200,
            transactions_per_tenant=options["transactions_per_tenant"] or 500,
            big_clients=options["big_clients"],
            big_transactions=options["big_transactions"],
            csv_rows=csv_rows,
            repeat=options["repeat"] or 15,
            keep=options["keep"],
            database=options["database"],
            only=only,
        )
        if bench_options.database and csv_rows and "csv" in only and options["only"] is None:
            # The imports of the earlier run are in that database's small tenants: measured
            # again only when asked by name (each import then goes to a new, empty tenant).
            raise CommandError(
                "--reuse-database with --scale big-tenant measures the insights and lists: add --csv-rows '' "
                "(or name the imports: --only csv, each into a new, empty tenant)"
            )
        if bench_options.small_tenants < 1 + len(csv_rows):
            raise CommandError(
                f"--tenants: at least {1 + len(csv_rows)} small tenants (one per CSV import, and one measured)"
            )
        results = big_tenant.run(bench_options, log=lambda message: self.stderr.write(message))
        self.stdout.write(big_tenant.render(results))
        if options["json_path"]:
            path = Path(options["json_path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=2, default=str))
            self.stderr.write(f"wrote {path}")
