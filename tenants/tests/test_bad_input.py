"""Hostile and broken input: a 4xx or a correct result, never a 500; the server keeps serving."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from conftest import TenantWorld
from tenants.testing import token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    world = TenantWorld()
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(world.owner_a)}")
    return world, client


def still_serving(client) -> None:
    assert client.get("/api/v1/me/").status_code == 200


def test_deeply_nested_json_is_400(setup):
    world, client = setup
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(
        "/api/v1/jobs/00000000-0000-0000-0000-000000000000/cancel/", body, content_type="application/json"
    )
    assert response.status_code in (400, 404)
    import io

    from common.parsers import StrictJSONParser

    with pytest.raises(Exception) as excinfo:
        StrictJSONParser().parse(io.BytesIO(("[" * 50 + "]" * 50).encode()), "application/json", {})
    assert "nested" in str(excinfo.value)
    still_serving(client)


def test_invalid_utf8_and_lone_surrogates_are_400():
    import io

    from rest_framework.exceptions import ParseError

    from common.parsers import StrictJSONParser

    parser = StrictJSONParser()
    for raw in (b'{"name": "\xff\xfe"}', b'{"name": "\\ud800"}', b'{"\\u0000": 1}', b'{"name": "a\\u0000b"}'):
        with pytest.raises(ParseError):
            parser.parse(io.BytesIO(raw), "application/json", {})
    assert parser.parse(io.BytesIO('{"name": "Zoë 💇"}'.encode()), "application/json", {}) == {"name": "Zoë 💇"}


def test_undecodable_bytes_in_the_query_become_replacement_characters(setup):
    world, client = setup
    response = client.get("/api/v1/jobs/?kind=%ED%A0%80%FF")  # Django decodes with errors="replace"
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize("query", ["search=%00", "x%00=1", "kind=a%00b"])
def test_nul_and_invalid_unicode_in_the_url_are_400(setup, query):
    world, client = setup
    response = client.get(f"/api/v1/jobs/?{query}")
    assert response.status_code == 400 and response.json()["code"] == "invalid_characters"
    still_serving(client)


def test_oversized_body_is_rejected_not_a_500(setup, settings):
    world, client = setup
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client.post(
        "/api/v1/jobs/00000000-0000-0000-0000-000000000000/cancel/", {"x": "y" * 5000}, format="json"
    )
    assert 400 <= response.status_code < 500
    still_serving(client)


def test_oversized_and_garbage_headers(setup):
    world, client = setup
    response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer " + "a" * 100_000)
    assert response.status_code == 401
    response = client.get("/api/v1/me/", HTTP_X_TENANT_ID="x" * 10_000)
    assert response.status_code == 400
    response = client.get("/api/v1/me/", HTTP_X_TENANT_ID="'; DROP TABLE tenants_tenant; --")
    assert response.status_code == 400
    still_serving(client)


@pytest.mark.parametrize("page_size", ["100000000", "-5", "0", "abc", "1e9"])
def test_absurd_page_sizes_are_400_naming_the_parameter(setup, page_size):
    world, client = setup
    response = client.get(f"/api/v1/jobs/?page_size={page_size}")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error" and response.json()["fields"].keys() == {"page_size"}


def test_invalid_cursor_is_400_naming_it(setup):
    world, client = setup
    response = client.get("/api/v1/jobs/?cursor=%27%3B%20DROP%20TABLE")
    assert response.status_code == 400 and response.json()["fields"].keys() == {"cursor"}


@pytest.mark.parametrize(
    "value",
    [
        "'; DROP TABLE tenants_backgroundjob; --",
        "{{ 7*7 }}",
        "${7*7}",
        "%s%s%s%n",
        "<script>alert(1)</script>",
        "\\x00",
    ],
)
def test_metacharacters_in_filters_are_just_text(setup, value):
    world, client = setup
    response = client.get("/api/v1/jobs/", {"kind": value, "status": "queued"})
    assert response.status_code == 200 and response.json()["results"] == []
    response = client.get("/api/v1/jobs/", {"status": value})
    assert response.status_code == 400  # not one of the statuses, said so
    still_serving(client)


# --- nesting is bounded before parsing (issue 24) ------------------------------------------


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


_JSON_TREES = st.recursive(
    st.one_of(st.integers(), st.text(alphabet='[]{}"\\ab', max_size=6)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), children, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(value=_JSON_TREES, limit=st.integers(min_value=0, max_value=8))
def test_the_bracket_scan_measures_the_depth_of_well_formed_json_exactly(value, limit):
    """Brackets inside strings (escaped quotes included) do not count; the answer is exact."""
    import json

    from common.parsers import nested_deeper_than

    raw = json.dumps(value)
    assert nested_deeper_than(raw.encode(), limit) == (_depth(value) > limit), raw


@settings(max_examples=300, deadline=None)
@given(raw=st.text(alphabet='[]{}"\\,1', max_size=80), limit=st.integers(min_value=0, max_value=6))
def test_the_bracket_scan_never_under_reports_a_malformed_text(raw, limit):
    from common.parsers import nested_deeper_than

    depth = deepest = 0
    for char in raw.replace('"', ""):  # without strings: a lower bound of what a parser would open
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(char, 0)
        deepest = max(deepest, depth)
    if '"' not in raw and deepest > limit:
        assert nested_deeper_than(raw.encode(), limit)


def test_fifty_thousand_levels_are_refused_before_parsing():
    import io

    from common.parsers import StrictJSONParser

    body = ("[" * 50_000 + "]" * 50_000).encode()
    with pytest.raises(Exception) as excinfo:
        StrictJSONParser().parse(io.BytesIO(body), "application/json", {})
    assert "nested deeper than 32 levels" in str(excinfo.value)
