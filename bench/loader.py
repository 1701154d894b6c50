"""Loads a realistic data set with set-based SQL (INSERT ... SELECT generate_series), as the owner.

Ids are derived from the row's position (`md5('c:<tenant>:<n>')::uuid`), so a transaction can
name its client and a line item its service without a join, and the generator stays one
statement per table. Columns another app adds later get a neutral value by type, so the loader
keeps working while the schema grows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from bench.database import BenchDatabase, fetch_value

TIMEZONES = ["America/Los_Angeles", "America/New_York", "America/Chicago", "Europe/London", "Pacific/Auckland"]
FIRST_NAMES = [
    "Ava",
    "Mia",
    "Emma",
    "Olivia",
    "Sofia",
    "Isabella",
    "Amelia",
    "Harper",
    "Luna",
    "Chloe",
    "Zoe",
    "Nora",
    "Lily",
    "Grace",
    "Aria",
    "Layla",
    "Maya",
    "Leah",
    "Ella",
    "Ruby",
    "Noah",
    "Liam",
    "Lucas",
    "Ethan",
    "Mateo",
    "Leo",
    "Kai",
    "Jonah",
    "Aiden",
    "Elijah",
    "Priya",
    "Aisha",
    "Mei",
    "Yuki",
    "Fatima",
    "Ines",
    "Camila",
    "Rosa",
    "Hana",
    "Tara",
]
LAST_NAMES = [
    "Garcia",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
]
CATEGORIES = ["Hair", "Color", "Nails", "Skin"]
TAGS = ["VIP", "Color client", "Bridal", "Lapsed"]
# (name, category index or None for uncategorized, price in cents, minutes)
SERVICES = [
    ("Women's cut", 0, 6500, 60),
    ("Men's cut", 0, 4000, 30),
    ("Blow-out", 0, 4500, 45),
    ("Balayage", 1, 18000, 180),
    ("Root touch-up", 1, 9000, 90),
    ("Gloss", 1, 5500, 45),
    ("Gel manicure", 2, 4500, 45),
    ("Pedicure", 2, 5000, 60),
    ("Nail art", 2, 2500, 30),
    ("Facial", 3, 11000, 60),
    ("Brow shaping", 3, 2500, 20),
    ("Gift card", None, 5000, 0),
]

SCALES = {
    # about a minute on two cores, measurements included
    "small": {"tenants": 100, "clients_per_tenant": 200, "transactions_per_tenant": 500, "repeat": 30},
    # the goals' scale: 1,000 tenants, 1,000,000 clients, 5,000,000 transactions
    "large": {"tenants": 1000, "clients_per_tenant": 1000, "transactions_per_tenant": 5000, "repeat": 40},
}

# The two years of history end "now"; the measured period is the last 365 days.
HISTORY_DAYS = 730


@dataclass
class LoadedData:
    tenants: int
    clients_per_tenant: int
    transactions_per_tenant: int
    rows: dict[str, int]
    seconds: dict[str, float]

    @staticmethod
    def tenant_id(index: int) -> str:
        return _uuid_py(f"t:{index}")

    @staticmethod
    def owner_id(index: int) -> str:
        return _uuid_py(f"u:{index}")


def _uuid_py(text: str) -> str:
    import hashlib
    import uuid

    return str(uuid.UUID(hashlib.md5(text.encode()).hexdigest()))


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


_NEUTRAL_BY_TYPE = {
    "boolean": "false",
    "integer": "0",
    "smallint": "0",
    "bigint": "0",
    "numeric": "0",
    "double precision": "0",
    "real": "0",
    "uuid": "gen_random_uuid()",
    "jsonb": "'{}'::jsonb",
    "json": "'{}'::json",
    "date": "current_date",
    "timestamp with time zone": "now()",
    "timestamp without time zone": "now()",
    "ARRAY": "'{}'",
}


def _columns(conn: psycopg.Connection, table: str) -> list[tuple[str, bool, bool, str, bool]]:
    return conn.execute(
        """
        SELECT column_name, is_nullable = 'NO', column_default IS NOT NULL, data_type, is_generated = 'ALWAYS'
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position
        """,
        [table],
    ).fetchall()


def insert_select(conn: psycopg.Connection, table: str, values: dict[str, str], source: str) -> int:
    """INSERT INTO table (...) SELECT <values> <source>; NOT NULL columns not named get a neutral value."""
    columns = _columns(conn, table)
    if not columns:
        raise RuntimeError(f"table {table} does not exist")
    known = {name for name, *_ in columns}
    chosen = {k: v for k, v in values.items() if k in known}
    for name, not_null, has_default, data_type, generated in columns:
        if generated or name in chosen or not not_null or has_default:
            continue
        chosen[name] = _NEUTRAL_BY_TYPE.get(data_type, "''")
    names = ", ".join(f'"{c}"' for c in chosen)
    exprs = ",\n  ".join(chosen.values())
    cursor = conn.execute(f'INSERT INTO "{table}" ({names})\nSELECT {exprs}\n{source}')
    return cursor.rowcount


def _secondary_indexes(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """Indexes not backing a constraint: dropped during the load and rebuilt after (much faster)."""
    return conn.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
        """,
        [table],
    ).fetchall()


BULK_TABLES = [
    "clients_client",
    "clients_clienttag",
    "clients_clientexternalid",
    "analytics_transaction",
    "analytics_transactionlineitem",
    "analytics_appointment",
]
RLS_TABLES_LOADED = [
    "tenants_membership",
    "clients_client",
    "clients_tag",
    "clients_clienttag",
    "clients_clientexternalid",
    "analytics_servicecategory",
    "analytics_service",
    "analytics_transaction",
    "analytics_transactionlineitem",
    "analytics_appointment",
    "analytics_refund",
    # Written by the insight triggers (and the rebuild below) during the load.
    "analytics_insightstate",
    "analytics_insightday",
    "analytics_insightspan",
    "analytics_insightvisitday",
]


def load(
    bench: BenchDatabase,
    *,
    tenants: int,
    clients_per_tenant: int,
    transactions_per_tenant: int,
    log: Callable[[str], None] = lambda message: None,
    big_tenant: tuple[int, int] | None = None,
    history_days: int = HISTORY_DAYS,
) -> LoadedData:
    """`big_tenant`: (clients, transactions) of tenant 1 instead of the per-tenant sizes
    (`--scale big-tenant`); `history_days`: how far back the sales go."""
    rows: dict[str, int] = {}
    seconds: dict[str, float] = {}
    n_clients, n_tx = clients_per_tenant, transactions_per_tenant
    n_appointments = max(1, transactions_per_tenant // 2)
    nc, nt, na = str(n_clients), str(n_tx), str(n_appointments)
    if big_tenant is not None:
        big_clients, big_tx = big_tenant
        nc = f"(CASE WHEN i = 1 THEN {big_clients} ELSE {n_clients} END)"
        nt = f"(CASE WHEN i = 1 THEN {big_tx} ELSE {n_tx} END)"
        na = f"(CASE WHEN i = 1 THEN {max(1, big_tx // 2)} ELSE {n_appointments} END)"
    first, last = _sql_array(FIRST_NAMES), _sql_array(LAST_NAMES)
    zones = _sql_array(TIMEZONES)
    with psycopg.connect(**bench.owner_conninfo(), autocommit=True) as conn:
        superuser = fetch_value(conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        if superuser:
            # Generated rows are consistent by construction: skip the per-row FK triggers.
            conn.execute("SET session_replication_role = replica")
        # FORCE RLS filters the owner too (unless superuser): lift it for the load only.
        for table in RLS_TABLES_LOADED:
            conn.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
        dropped: list[tuple[str, str]] = []
        for table in BULK_TABLES:
            for name, definition in _secondary_indexes(conn, table):
                conn.execute(f'DROP INDEX "{name}"')
                dropped.append((name, definition))

        def step(label: str, table: str, values: dict[str, str], source: str) -> None:
            started = time.perf_counter()
            rows[table] = rows.get(table, 0) + insert_select(conn, table, values, source)
            seconds[label] = round(time.perf_counter() - started, 2)
            log(f"  loaded {label}: {rows[table]:,} rows in {seconds[label]:.1f}s")

        step(
            "tenants",
            "tenants_tenant",
            {
                "id": "md5('t:' || i)::uuid",
                "name": "'Bench Salon ' || i",
                "slug": "'bench-salon-' || i",
                "timezone": f"({zones})[1 + i % {len(TIMEZONES)}]",
                "currency": "'USD'",
                "country": "'US'",
                "is_active": "true",
                "created_at": f"now() - interval '{history_days + 30} days'",
            },
            f"FROM generate_series(1, {tenants}) AS i",
        )
        step(
            "owners",
            "tenants_user",
            {
                "id": "md5('u:' || i)::uuid",
                "password": "''",
                "is_superuser": "false",
                "username": "'bench-owner-' || i",
                "first_name": "'Owner'",
                "last_name": "i::text",
                "email": "'owner' || i || '@bench.test'",
                "is_staff": "false",
                "is_active": "true",
                "date_joined": "now()",
            },
            f"FROM generate_series(1, {tenants}) AS i",
        )
        step(
            "memberships",
            "tenants_membership",
            {
                "id": "md5('m:' || i)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "user_id": "md5('u:' || i)::uuid",
                "role": "'owner_admin'",
                "is_active": "true",
                "created_at": "now()",
            },
            f"FROM generate_series(1, {tenants}) AS i",
        )
        step(
            "service categories",
            "analytics_servicecategory",
            {
                "id": "md5('sc:' || i || ':' || c)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "name": f"({_sql_array(CATEGORIES)})[c]",
                "source": "'manual'",
                "external_id": "''",
                "created_at": "now()",
            },
            f"FROM generate_series(1, {tenants}) AS i, generate_series(1, {len(CATEGORIES)}) AS c",
        )
        service_names = _sql_array([s[0] for s in SERVICES])
        service_cats = "ARRAY[" + ",".join("NULL" if s[1] is None else str(s[1] + 1) for s in SERVICES) + "]::int[]"
        service_prices = "ARRAY[" + ",".join(str(s[2]) for s in SERVICES) + "]"
        service_minutes = "ARRAY[" + ",".join(str(s[3]) for s in SERVICES) + "]"
        step(
            "services",
            "analytics_service",
            {
                "id": "md5('s:' || i || ':' || s)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "name": f"({service_names})[s]",
                "category_id": f"CASE WHEN ({service_cats})[s] IS NULL THEN NULL ELSE md5('sc:' || i || ':' || ({service_cats})[s])::uuid END",
                "duration_minutes": f"({service_minutes})[s]",
                "price_amount": f"({service_prices})[s]",
                "currency": "'USD'",
                "is_active": "true",
                "source": "'manual'",
                "external_id": "''",
                "created_at": "now()",
                "updated_at": "now()",
            },
            f"FROM generate_series(1, {tenants}) AS i, generate_series(1, {len(SERVICES)}) AS s",
        )

        # Clients: names from the lists, one in eight without a birthday, half with a birth year,
        # birthdays spread over every day of a leap year (Feb 29 included).
        step(
            "clients",
            "clients_client",
            {
                "id": "md5('c:' || i || ':' || n)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "first_name": "first_name",
                "last_name": "last_name",
                "email": "email",
                # Kept by a trigger (migration clients 0013), which replica mode skips; no
                # such column on Citus (insert_select leaves out what the table lacks).
                "search_key": "clients_search_key(first_name, last_name, email)",
                "email_hash": "encode(sha256(convert_to(email, 'UTF8')), 'hex')",
                "phone": "phone",
                "phone_hash": "encode(sha256(convert_to(phone, 'UTF8')), 'hex')",
                "birthday_month": "CASE WHEN n % 8 = 0 THEN NULL ELSE extract(month FROM bday)::int END",
                "birthday_day": "CASE WHEN n % 8 = 0 THEN NULL ELSE extract(day FROM bday)::int END",
                "birth_year": "CASE WHEN n % 8 = 0 OR n % 2 = 1 THEN NULL ELSE 1960 + (n * 31 + i) % 45 END",
                "notes": "''",
                "source": "(ARRAY['manual','csv','square','acuity'])[1 + (n + i) % 4]",
                "email_consent": "n % 3 <> 0",
                "email_consent_at": "CASE WHEN n % 3 <> 0 THEN now() END",
                "sms_consent": "n % 4 = 0",
                "sms_consent_at": "CASE WHEN n % 4 = 0 THEN now() END",
                "created_at": f"now() - make_interval(secs => ((n * 7919 + i * 104729) % ({history_days} * 86400))::float8)",
                "updated_at": "now()",
            },
            f"""FROM generate_series(1, {tenants}) AS i, generate_series(1, {nc}) AS n,
        LATERAL (SELECT
            ({first})[1 + (n * 7 + i) % {len(FIRST_NAMES)}] AS first_name,
            ({last})[1 + (n * 13 + i * 3) % {len(LAST_NAMES)}] AS last_name) AS names,
        LATERAL (SELECT
            lower(first_name || '.' || last_name) || '.' || n || '@example.com' AS email,
            '+1' || (200 + i % 700)::text || lpad(n::text, 7, '0') AS phone,
            date '2000-01-01' + ((n * 97 + i * 13) % 366) AS bday) AS x""",
        )

        # Tags: four per tenant; a third of the clients carry one, a fifth a second one. Clients
        # that came from Square or Acuity keep their provider's id.
        step(
            "tags",
            "clients_tag",
            {
                "id": "md5('tag:' || i || ':' || k)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "name": f"({_sql_array(TAGS)})[k]",
                "created_at": "now()",
            },
            f"FROM generate_series(1, {tenants}) AS i, generate_series(1, {len(TAGS)}) AS k",
        )
        step(
            "client tags",
            "clients_clienttag",
            {
                "id": "md5('ct:' || i || ':' || n || ':' || k)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "client_id": "md5('c:' || i || ':' || n)::uuid",
                "tag_id": "md5('tag:' || i || ':' || k)::uuid",
                "created_at": "now()",
            },
            f"""FROM generate_series(1, {tenants}) AS i, generate_series(1, {nc}) AS n,
        LATERAL (SELECT 1 + n % {len(TAGS)} AS k WHERE n % 3 = 0
                 UNION ALL SELECT 1 + (n + 1) % {len(TAGS)} WHERE n % 5 = 0) AS x""",
        )
        step(
            "client external ids",
            "clients_clientexternalid",
            {
                "id": "md5('ce:' || i || ':' || n)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "client_id": "md5('c:' || i || ':' || n)::uuid",
                "provider": "provider",
                "external_id": "upper(provider) || '-' || i || '-' || n",
                "created_at": "now()",
            },
            f"""FROM generate_series(1, {tenants}) AS i, generate_series(1, {nc}) AS n,
        LATERAL (SELECT (ARRAY['manual','csv','square','acuity'])[1 + (n + i) % 4] AS provider) AS x
        WHERE provider IN ('square', 'acuity')""",
        )

        # Transactions over two years: 3% refunded, 1% failed, 10% without a client.
        step(
            "transactions",
            "analytics_transaction",
            {
                "id": "md5('x:' || i || ':' || n)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "client_id": f"CASE WHEN n % 10 = 0 THEN NULL ELSE md5('c:' || i || ':' || (1 + (n * 7) % {nc}))::uuid END",
                "occurred_at": f"now() - make_interval(secs => ((n::bigint * 15485863 + i * 7919) % ({history_days} * 86400))::float8)",
                "status": "CASE WHEN n % 100 < 3 THEN 'refunded' WHEN n % 100 = 3 THEN 'failed' ELSE 'completed' END",
                "total_amount": "2000 + ((n * 37 + i) % 180) * 100",
                "refunded_amount": "CASE WHEN n % 100 < 3 THEN 2000 + ((n * 37 + i) % 180) * 100 ELSE 0 END",
                "currency": "'USD'",
                "source": "(ARRAY['manual','square','acuity'])[1 + n % 3]",
                "external_id": "''",
                "created_at": "now()",
                "updated_at": "now()",
            },
            f"FROM generate_series(1, {tenants}) AS i, generate_series(1, {nt}) AS n",
        )
        # Their refunds: the fully refunded 3% get one dated refund 0-29 days after the sale.
        step(
            "refunds",
            "analytics_refund",
            {
                "id": "md5('r:' || i || ':' || n)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "transaction_id": "md5('x:' || i || ':' || n)::uuid",
                "amount": "2000 + ((n * 37 + i) % 180) * 100",
                "currency": "'USD'",
                "refunded_at": f"now() - make_interval(secs => ((n::bigint * 15485863 + i * 7919) % ({history_days} * 86400))::float8)"
                " + make_interval(days => n % 30)",
                "source": "'manual'",
                "external_id": "''",
                "created_at": "now()",
            },
            f"FROM generate_series(1, {tenants}) AS i, generate_series(1, {nt}) AS n WHERE n % 100 < 3",
        )
        # One line item per transaction, a second on every third; the items add up to the total.
        step(
            "line items",
            "analytics_transactionlineitem",
            {
                "id": "md5('l:' || i || ':' || n || ':' || k)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "transaction_id": "md5('x:' || i || ':' || n)::uuid",
                "service_id": f"md5('s:' || i || ':' || (1 + (n * 5 + k) % {len(SERVICES)}))::uuid",
                "description": "''",
                "quantity": "1",
                "amount": "CASE WHEN n % 3 = 0 AND k = 1 THEN total * 6 / 10 WHEN n % 3 = 0 THEN total - total * 6 / 10 ELSE total END",
            },
            f"""FROM generate_series(1, {tenants}) AS i, generate_series(1, {nt}) AS n,
        LATERAL (SELECT 2000 + ((n * 37 + i) % 180) * 100 AS total) AS x,
        LATERAL generate_series(1, CASE WHEN n % 3 = 0 THEN 2 ELSE 1 END) AS k""",
        )
        # Appointments: past ones mostly completed (5% no-show, 7% canceled), the next weeks booked.
        step(
            "appointments",
            "analytics_appointment",
            {
                "id": "md5('a:' || i || ':' || n)::uuid",
                "tenant_id": "md5('t:' || i)::uuid",
                "client_id": f"md5('c:' || i || ':' || (1 + (n * 11) % {nc}))::uuid",
                "service_id": f"md5('s:' || i || ':' || (1 + n % {len(SERVICES) - 1}))::uuid",
                "staff_name": "(ARRAY['Sam','Alex','Jordan','Riley'])[1 + n % 4]",
                "start_at": "start_at",
                "end_at": "start_at + interval '1 hour'",
                "status": "CASE WHEN start_at > now() THEN 'booked' WHEN n % 20 = 0 THEN 'no_show' "
                "WHEN n % 14 = 0 THEN 'canceled' ELSE 'completed' END",
                "price_amount": "6500",
                "currency": "'USD'",
                "source": "'manual'",
                "external_id": "''",
                "created_at": "now()",
                "updated_at": "now()",
            },
            f"""FROM generate_series(1, {tenants}) AS i, generate_series(1, {na}) AS n,
        LATERAL (SELECT now() + interval '30 days'
                 - make_interval(secs => ((n::bigint * 104723 + i * 31) % (({history_days} + 30) * 86400))::float8) AS start_at) AS x""",
        )

        started = time.perf_counter()
        for _name, definition in dropped:
            conn.execute(definition)
        seconds["indexes"] = round(time.perf_counter() - started, 2)
        log(f"  rebuilt {len(dropped)} indexes in {seconds['indexes']:.1f}s")
        # The insight aggregates (docs/insights.md): the triggers that keep them are off in
        # replica mode, so every tenant's are built here, from its rows.
        started = time.perf_counter()
        conn.execute("SELECT analytics_insight_rebuild(id, timezone) FROM tenants_tenant")
        seconds["insight_aggregates"] = round(time.perf_counter() - started, 2)
        log(f"  built the insight aggregates in {seconds['insight_aggregates']:.1f}s")
        for table in RLS_TABLES_LOADED:
            conn.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
        if superuser:
            conn.execute("SET session_replication_role = origin")
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        seconds["vacuum_analyze"] = round(time.perf_counter() - started, 2)
        log(f"  VACUUM ANALYZE in {seconds['vacuum_analyze']:.1f}s")
    return LoadedData(tenants, clients_per_tenant, transactions_per_tenant, rows, seconds)


def describe(
    bench: BenchDatabase, *, tenants: int, clients_per_tenant: int, transactions_per_tenant: int
) -> LoadedData:
    """The data of a reused database, counted (and checked against the sizes asked for)."""
    rows = {}
    with psycopg.connect(**bench.owner_conninfo(), autocommit=True) as conn:
        for table in [
            "tenants_tenant",
            "clients_client",
            "clients_clienttag",
            "clients_clientexternalid",
            "analytics_transaction",
            "analytics_transactionlineitem",
            "analytics_appointment",
        ]:
            rows[table] = fetch_value(conn.execute(f'SELECT count(*) FROM "{table}"'))
    # Background-work runs of the earlier run added a few clients; tenants and transactions must match.
    if rows["tenants_tenant"] != tenants or rows["analytics_transaction"] != tenants * transactions_per_tenant:
        raise ValueError(f"database {bench.name} holds other sizes than asked for: {rows}")
    return LoadedData(tenants, clients_per_tenant, transactions_per_tenant, rows, {"reused": 0.0})
