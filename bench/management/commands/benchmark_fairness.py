"""manage.py benchmark_fairness: one tenant's load against another's share (issue 28)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Measure fairness between tenants: background jobs (one worker, concurrency 2) before and "
        "after the chunks/queues/cap, and a tenant's API latency while another sends 5x its rate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--jobs", type=int, default=6, help="tenant A's jobs")
        parser.add_argument("--items", type=int, default=20_000, help="rows per CSV import (clients per batch) of A")
        parser.add_argument(
            "--a-kind",
            choices=["import", "birthday"],
            default="import",
            help="tenant A's jobs: CSV imports (the issue's) or birthday batches",
        )
        parser.add_argument(
            "--chunk", type=int, default=1_000, help="JOB_CHUNK_SIZE of the fair rounds (birthday batches)"
        )
        parser.add_argument(
            "--import-chunk",
            type=int,
            default=None,
            help="CLIENTS_IMPORT_CHUNK_ROWS of the fair rounds (default: the project's setting)",
        )
        parser.add_argument("--http-seconds", type=float, default=20.0, help="length of each HTTP phase")
        parser.add_argument("--http-rounds", type=int, default=2, help="B alone / B with A rounds, interleaved")
        parser.add_argument(
            "--http-limits",
            choices=["on", "off", "both"],
            default="both",
            help="the HTTP phases with the tenant limits on, off (for contrast) or both",
        )
        parser.add_argument("--gunicorn-workers", type=int, default=2)
        parser.add_argument("--gunicorn-threads", type=int, default=4)
        parser.add_argument("--caps", type=int, nargs="+", default=[1, 2], help="TENANT_MAX_RUNNING_TASKS to try")
        parser.add_argument(
            "--background-rounds",
            type=int,
            default=2,
            help="rounds of each background kind, in alternating order (A's total: the median)",
        )
        parser.add_argument("--no-background", dest="background", action="store_false")
        parser.add_argument("--no-http", dest="http", action="store_false")
        parser.add_argument("--json", dest="json_path", help="write every figure as JSON here")

    def handle(self, *args: Any, **options: Any) -> None:
        from bench.fairness import FairnessOptions, render, run

        if options["background_rounds"] < 1:
            raise CommandError("--background-rounds must be at least 1")
        if options["jobs"] < 1 or options["items"] < 1 or options["chunk"] < 1 or (options["import_chunk"] or 1) < 1:
            raise CommandError("--jobs, --items, --chunk and --import-chunk must be at least 1")
        results = run(
            FairnessOptions(
                jobs=options["jobs"],
                items=options["items"],
                chunk=options["chunk"],
                import_chunk=options["import_chunk"],
                a_kind=options["a_kind"],
                http_seconds=options["http_seconds"],
                http_rounds=options["http_rounds"],
                http_limits={"on": (True,), "off": (False,), "both": (True, False)}[options["http_limits"]],
                gunicorn_workers=options["gunicorn_workers"],
                gunicorn_threads=options["gunicorn_threads"],
                caps=tuple(options["caps"]),
                background_rounds=options["background_rounds"],
                background=options["background"],
                http=options["http"],
                log=lambda line: self.stderr.write(line),
            )
        )
        self.stdout.write(render(results))
        if options["json_path"]:
            with open(options["json_path"], "w") as handle:
                json.dump(results, handle, indent=2, default=str)
            self.stdout.write(f"wrote {options['json_path']}")
