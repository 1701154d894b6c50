"""Schema fuzzing with Schemathesis, in-process (WSGI), as a real tenant member.

Every operation of the drf-spectacular schema gets generated requests: none may answer 500,
and documented responses must match the schema. The default budget keeps the suite fast;
for a longer run:  SCHEMATHESIS_MAX_EXAMPLES=200 scripts/test tenants/tests/test_schema_fuzz.py
"""

from __future__ import annotations

import os

import pytest
from django.core.wsgi import get_wsgi_application

import schemathesis  # noqa: E402  (pinned in requirements-dev.txt: the fuzzing must run, not skip)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from conftest import build_full_world  # noqa: E402
from tenants.testing import token_for  # noqa: E402

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "4"))


@pytest.fixture
def keep_test_connection():
    """Like Django's test client: the WSGI handler must not close the test transaction's
    connection at the end of each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_no_operation_answers_500_and_responses_match_the_schema(keep_test_connection):
    world = build_full_world()
    headers = {"Authorization": f"Bearer {token_for(world.owner_a)}", "X-Tenant-ID": str(world.tenant_a.id)}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        try:
            exercise()
        except Exception as exc:  # collect every operation's failure, then fail once
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert operations > 5
    assert not failures, "\n\n".join(failures)
