"""The consent ledger: row level security, append-only for the runtime role, and the
decisions recorded before it existed.

Backfill: each client's stored consent per channel becomes one `system` event at its recorded
time: a grant where the client consents, a withdrawal where the client does not and a time
is known. A "no" without a time is no decision (the default of a new client) and gets no row.
(A provider unsubscribe used to clear the time, so such an opt-out cannot be told apart from
"never asked": the next sync of that provider records the withdrawal again.) A consent
without a time (possible only for rows written outside the services) is dated at the client's
creation, and that date becomes the client's consent time, so that the fields stay exactly
what the ledger derives.

clients_client FORCEs row level security, so the table owner running this migration would
see no rows: the backfill runs with FORCE lifted inside this migration's transaction (ALTER
TABLE holds an exclusive lock until commit; no other session sees the table without it).
"""

from django.conf import settings
from django.db import migrations

from tenants.db.rls import enable_rls


def _app_role() -> str:
    return '"' + settings.DATABASE_APP_ROLE.replace('"', '""') + '"'


BACKFILL = """
ALTER TABLE clients_client NO FORCE ROW LEVEL SECURITY;
ALTER TABLE clients_consentevent NO FORCE ROW LEVEL SECURITY;
UPDATE clients_client SET email_consent_at = created_at WHERE email_consent AND email_consent_at IS NULL;
UPDATE clients_client SET sms_consent_at = created_at WHERE sms_consent AND sms_consent_at IS NULL;
INSERT INTO clients_consentevent (id, tenant_id, client_id, channel, granted, decided_at, recorded_at, origin, provider)
SELECT gen_random_uuid(), tenant_id, id, 'email', email_consent, email_consent_at, now(), 'system', ''
  FROM clients_client WHERE email_consent_at IS NOT NULL
UNION ALL
SELECT gen_random_uuid(), tenant_id, id, 'sms', sms_consent, sms_consent_at, now(), 'system', ''
  FROM clients_client WHERE sms_consent_at IS NOT NULL;
-- The inserts queued deferred foreign key checks; ALTER TABLE refuses to run while they pend.
SET CONSTRAINTS ALL IMMEDIATE;
ALTER TABLE clients_consentevent FORCE ROW LEVEL SECURITY;
ALTER TABLE clients_client FORCE ROW LEVEL SECURITY;
"""


class Migration(migrations.Migration):
    dependencies = [("clients", "0005_consent_ledger")]

    operations = [
        enable_rls("clients_consentevent"),
        # Append-only for the application (tenants.db.roles repeats the REVOKE after every
        # migrate, since its post_migrate grant covers all tables).
        migrations.RunSQL(
            sql=f"REVOKE UPDATE, DELETE, TRUNCATE ON clients_consentevent FROM {_app_role()};",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunSQL(sql=BACKFILL, reverse_sql="DELETE FROM clients_consentevent WHERE origin = 'system';"),
    ]
