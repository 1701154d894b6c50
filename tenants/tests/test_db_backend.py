"""tenants.db: Django's PostgreSQL backend with a faster timestamptz loader for UTC
connections; it must read every value exactly as Django's own loader does."""

import datetime

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader

from tenants.db.base import UtcTimestamptzLoader

VALUES = [
    "2026-11-30 04:05:06.123456+00",
    "2026-11-30 04:05:06+00",
    "2026-11-30 04:05:06.5+00",
    "2024-02-29 23:59:59.999999+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "1900-01-01 00:00:00+00",
]
UNREADABLE = ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC"]


def _load(loader_class, text: str):
    return loader_class(0, connection.connection).load(text.encode())


@pytest.mark.django_db
def test_utc_connections_use_it():
    connection.ensure_connection()
    assert connection.connection.adapters.get_loader(1184, psycopg.pq.Format.TEXT) is UtcTimestamptzLoader
    with connection.cursor() as cursor:
        cursor.execute("SELECT '2026-11-30 04:05:06.123456+05:30'::timestamptz")
        value = cursor.fetchone()[0]
    assert value == datetime.datetime(2026, 11, 29, 22, 35, 6, 123456, tzinfo=datetime.UTC)
    assert value.tzinfo is datetime.UTC


@pytest.mark.django_db
@pytest.mark.parametrize("text", VALUES + UNREADABLE)
def test_reads_what_djangos_loader_reads(text):
    connection.ensure_connection()
    context = psycopg.adapt.AdaptersMap(connection.connection.adapters)

    class Holder:
        adapters = context

    register_tzloader(datetime.UTC, Holder)
    djangos = context.get_loader(1184, psycopg.pq.Format.TEXT)
    assert djangos is not UtcTimestamptzLoader
    try:
        expected = _load(djangos, text)
    except psycopg.DataError as error:
        with pytest.raises(type(error)):
            _load(UtcTimestamptzLoader, text)
        return
    found = _load(UtcTimestamptzLoader, text)
    assert found == expected and found.tzinfo is expected.tzinfo is datetime.UTC
