"""Hostile and broken input: a 4xx or a correct result, never a 500; the server keeps serving."""

from __future__ import annotations

import pytest
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

    from brandvx.parsers import StrictJSONParser

    with pytest.raises(Exception) as excinfo:
        StrictJSONParser().parse(io.BytesIO(("[" * 50 + "]" * 50).encode()), "application/json", {})
    assert "nested" in str(excinfo.value)
    still_serving(client)


def test_invalid_utf8_and_lone_surrogates_are_400():
    import io

    from rest_framework.exceptions import ParseError

    from brandvx.parsers import StrictJSONParser

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
    assert response.json()["code"] == "invalid_parameter" and response.json()["parameter"] == "page_size"


def test_invalid_cursor_is_400_naming_it(setup):
    world, client = setup
    response = client.get("/api/v1/jobs/?cursor=%27%3B%20DROP%20TABLE")
    assert response.status_code == 400 and response.json()["parameter"] == "cursor"


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
