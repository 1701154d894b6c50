"""The benchmark: the cost of isolation and the throughput of the hot paths (issue 8).

Everything here exists only for `manage.py benchmark` and `manage.py loadtest`. It creates its
own database and a temporary BYPASSRLS role (the "no isolation" baseline), and drops both.
Nothing in the running application imports this package.
"""
