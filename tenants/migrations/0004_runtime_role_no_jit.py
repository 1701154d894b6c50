"""No JIT for the runtime role: its queries are short OLTP and report queries where JIT's
compile time (100+ ms) is pure loss; the planner's cost estimate for a multi-year report
can cross jit_above_cost and make a 3 ms query take 200 ms."""

from django.conf import settings
from django.db import migrations


def _app() -> str:
    return '"' + settings.DATABASE_APP_ROLE.replace('"', '""') + '"'


class Migration(migrations.Migration):
    dependencies = [("tenants", "0003_support_audit_append")]

    operations = [
        migrations.RunSQL(sql=f"ALTER ROLE {_app()} SET jit = off;", reverse_sql=f"ALTER ROLE {_app()} RESET jit;"),
    ]
