"""Each client's search key, kept by the database: upper(first || ' ' || last || E'\\n' || email).

A search (clients.selectors.client_search) walks the tenant's clients in the list's order and
keeps those whose names or email hold the query, any case: under RLS no index can serve a
substring (selectors._contains says why), so each client walked costs one comparison. The
100,000-client tenant of the big-tenant benchmark walks its 2,580 most recent clients to find
a page of 50 that hold "garcia" (issue 29): building and upper-casing the text of each took
3.4 ms of SQL (about 1.3 µs a client, a third of it the text); reading the key stored takes 2.3
ms (about 0.9 µs a client, most of it the visit to the table's row).

The key is a plain column that no model declares, written only by a BEFORE INSERT OR UPDATE
row trigger from the row's own columns: every write (a model's save, a QuerySet's update(),
the set-based imports' INSERT ... SELECT and UPDATE ... FROM) keeps it, and nothing in the
application can set it wrong (clients/tests/test_search_key.py). Not a stored generated
column: Citus 13.2's shard split (`isolate_tenant`) cannot copy a table that has one. Not on
Citus at all, where a trigger on a distributed table needs `citus.enable_unsafe_triggers`
(analytics 0008): there no column is added and the search builds the text per client, as
before.
"""

from django.db import migrations

from tenants.db.sharding import is_citus

SQL = r"""
CREATE FUNCTION clients_search_key(first_name text, last_name text, email text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT upper(first_name || ' ' || last_name || E'\n' || email)
$$;

CREATE FUNCTION clients_client_keep_search_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_key := clients_search_key(NEW.first_name, NEW.last_name, NEW.email);
    RETURN NEW;
END
$$;

ALTER TABLE clients_client ADD COLUMN search_key text;
-- The table FORCEs row level security: the backfill runs with it lifted inside this
-- migration's transaction, as 0006's does (the ALTERs hold an exclusive lock until commit).
ALTER TABLE clients_client NO FORCE ROW LEVEL SECURITY;
UPDATE clients_client SET search_key = clients_search_key(first_name, last_name, email);
ALTER TABLE clients_client FORCE ROW LEVEL SECURITY;
CREATE TRIGGER client_search_key BEFORE INSERT OR UPDATE ON clients_client
    FOR EACH ROW EXECUTE FUNCTION clients_client_keep_search_key();
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS client_search_key ON clients_client;
ALTER TABLE clients_client DROP COLUMN IF EXISTS search_key;
DROP FUNCTION IF EXISTS clients_client_keep_search_key();
DROP FUNCTION IF EXISTS clients_search_key(text, text, text);
"""


def forward(apps, schema_editor):
    if is_citus(schema_editor.connection):
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SQL)


def backward(apps, schema_editor):
    if is_citus(schema_editor.connection):
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(REVERSE_SQL)


class Migration(migrations.Migration):
    dependencies = [("clients", "0012_birthday_window_index")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
