"""Sections 2-4: endpoints through Django in-process (no network), isolation on and off.

"Off" exists only here: the default alias is swapped for a connection logged in as the
benchmark's BYPASSRLS role, with the tenant-context hook removed from it. Everything else
(authentication, tenant resolution, views, serializers) runs unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import psycopg
from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client
from django.urls import Resolver404, resolve

from bench.database import BenchDatabase

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse  # a stub-only name: the test client's response

CONTEXT_MARK = "SELECT set_config('app.tenant_id'"
# On Citus the context is a statement of its own (tenants.context).
CITUS_CONTEXT_MARK = "SET LOCAL citus.propagate_set_commands"


@dataclass
class Capture:
    """What one request sent to the database, transaction by transaction."""

    transactions: list[list[str]] = field(default_factory=list)  # SQL as sent (context folded in)
    autocommit_statements: int = 0
    executemany: int = 0
    set_config_by_log: list[int] = field(default_factory=list)  # the same count, by tenants.testing

    @property
    def statements(self) -> int:
        return sum(len(t) for t in self.transactions) + self.autocommit_statements

    def context_statements(self) -> list[int]:
        return [sum(CONTEXT_MARK in s or s.startswith(CITUS_CONTEXT_MARK) for s in t) for t in self.transactions]


def is_context_statement(statement: str) -> bool:
    """The context sent as a statement of its own (Citus)."""
    return statement.startswith(CITUS_CONTEXT_MARK)


def strip_context(statement: str) -> str:
    if statement.startswith(CONTEXT_MARK) and "; " in statement:
        return statement.split("; ", 1)[1]
    return statement


class EndpointHarness:
    def __init__(self, bench: BenchDatabase, *, tenant_id: str, user_id: str, email: str = ""):
        from tenants.auth.supabase import issue_development_token

        self.bench = bench
        self.tenant_id = tenant_id
        token = issue_development_token(
            user_id=uuid.UUID(user_id), tenant_id=uuid.UUID(tenant_id), minutes=240, email=email
        )
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_TENANT_ID=tenant_id)
        self.token = token
        self.wrapper_on = connections["default"]
        self.wrapper_off: BaseDatabaseWrapper | None = None
        if bench.bypass_available:
            self.wrapper_off = self._bypass_wrapper()

    def _bypass_wrapper(self) -> BaseDatabaseWrapper:
        from django.db.utils import load_backend

        off_settings = dict(self.wrapper_on.settings_dict)
        off_settings.update(USER=self.bench.bypass_role, PASSWORD=self.bench.bypass_password)
        backend = load_backend(off_settings["ENGINE"])
        wrapper: BaseDatabaseWrapper = backend.DatabaseWrapper(off_settings, "default")
        return wrapper

    def use(self, isolation: bool) -> None:
        from tenants.context import _hook

        if isolation:
            connections["default"] = self.wrapper_on
            return
        if self.wrapper_off is None:
            raise RuntimeError("isolation cannot be turned off: no BYPASSRLS role in this run")
        connections["default"] = self.wrapper_off
        self.wrapper_off.ensure_connection()
        if _hook in self.wrapper_off.execute_wrappers:
            self.wrapper_off.execute_wrappers.remove(_hook)

    def restore(self) -> None:
        connections["default"] = self.wrapper_on
        if self.wrapper_off is not None:
            self.wrapper_off.close()

    @staticmethod
    def available(path: str) -> tuple[bool, str]:
        try:
            resolve(urlsplit(path).path)
        except Resolver404:
            return False, "endpoint not available (no route)"
        return True, ""

    def get(self, path: str, *, isolation: bool = True) -> _MonkeyPatchedWSGIResponse:
        self.use(isolation)
        try:
            return self.client.get(path)
        finally:
            if not isolation:
                self.use(True)

    def capture(
        self, path: str, *, method: str = "get", data: dict[str, Any] | None = None
    ) -> tuple[_MonkeyPatchedWSGIResponse, Capture]:
        """One request with isolation on, recording each statement as the server receives it."""
        from psycopg.pq import TransactionStatus

        from tenants.testing import capture_statements

        self.use(True)
        capture = Capture()
        conn = connections["default"]

        def recorder(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
            wrapper = context["connection"]
            if many:
                capture.executemany += 1
            elif wrapper.get_autocommit():
                capture.autocommit_statements += 1
            else:
                if wrapper.connection.info.transaction_status == TransactionStatus.IDLE:
                    capture.transactions.append([])
                cursor = context["cursor"].cursor
                text = cursor.mogrify(sql, params) if params is not None else sql
                capture.transactions[-1].append(text)
            return execute(sql, params, many, context)

        with capture_statements() as log:
            conn.ensure_connection()
            conn.execute_wrappers.append(recorder)
            try:
                if method == "get":
                    response = self.client.get(path)
                else:
                    response = getattr(self.client, method)(path, data=data, content_type="application/json")
            finally:
                conn.execute_wrappers.remove(recorder)
        capture.set_config_by_log = [
            log.set_config_count(i) for i in sorted(k for k in log.by_transaction() if k is not None)
        ]
        return response, capture


def replay_runner(conn: psycopg.Connection[Any], transactions: list[list[str]]) -> Callable[[], int]:
    """Run a captured request's statements directly on a psycopg connection (the "bare SQL")."""

    def run() -> int:
        rows = 0
        with conn.cursor() as cursor:
            for statements in transactions:
                for statement in statements:
                    cursor.execute(statement)
                    if statement.startswith(CONTEXT_MARK):
                        cursor.nextset()
                    if cursor.description is not None:
                        rows += len(cursor.fetchall())
                conn.commit()
        return rows

    return run


def debug_off() -> None:
    # DEBUG keeps every query in memory and times it: not what production pays.
    settings.DEBUG = False
