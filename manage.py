#!/usr/bin/env python
import os
import sys

# The benchmarks and load tools live in the `bench` app, which only bench.settings (and the
# test settings) install: these commands get those settings unless the caller chose others.
BENCH_COMMANDS = {"benchmark", "benchmark_fairness", "loadtest", "bench_birthdays", "bench_square_import"}


def main() -> None:
    default = "bench.settings" if len(sys.argv) > 1 and sys.argv[1] in BENCH_COMMANDS else "brandvx.settings"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", default)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
