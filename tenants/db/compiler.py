"""Django's PostgreSQL SQL compilers, with one change for Citus.

Django 5.2 bulk-inserts several rows as `INSERT ... SELECT * FROM UNNEST(...)`. Citus plans an
INSERT ... SELECT into a distributed table by repartitioning it, which writes the shards with
COPY, and PostgreSQL refuses COPY into a table under row-level security. On Citus the rows go
as a plain multi-row `INSERT ... VALUES`, which Citus routes shard by shard (one shard: the
tenant's). Plain PostgreSQL keeps Django's UNNEST (it plans faster).
"""

from typing import Any

from django.db.backends.postgresql.compiler import *  # noqa: F403 (every compiler, unchanged)
from django.db.backends.postgresql.compiler import SQLInsertCompiler as PostgresInsertCompiler
from django.db.models.sql.compiler import SQLInsertCompiler as BaseInsertCompiler


class SQLInsertCompiler(PostgresInsertCompiler):  # type: ignore[no-redef]  # replaces the star-imported one on purpose
    def assemble_as_sql(self, fields: Any, value_rows: Any) -> Any:
        if getattr(self.connection, "_brandvx_citus", False):
            return BaseInsertCompiler.assemble_as_sql(self, fields, value_rows)
        return super().assemble_as_sql(fields, value_rows)
