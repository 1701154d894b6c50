"""The benchmarks and load tools: a Django app installed only by `bench.settings` and the
test settings, never by the production settings (`brandvx.settings`).

`manage.py benchmark` measures the cost of isolation and the throughput of the hot paths
(issue 8) and compares the client list with peer frameworks (`bench/peers/`, issue 15);
`loadtest`, `bench_birthdays` and `bench_square_import` are its companions. The benchmark
creates its own databases and a temporary BYPASSRLS role (the "no isolation" baseline), and
drops them. Nothing in the running application imports this package.
"""
