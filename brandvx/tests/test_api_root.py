"""The ways in (issue 23): `/` leads to the API root, which links every resource and the
documentation; ReDoc is served from the project's own files."""

from __future__ import annotations

import pytest
from django.test import Client as DjangoClient
from django.urls import reverse

from brandvx.api_root import DOCUMENTS, RESOURCES

pytestmark = pytest.mark.django_db


def test_the_site_root_leads_to_the_api_root():
    response = DjangoClient().get("/")
    assert response.status_code == 302 and response["Location"] == "/api/v1/"


def test_the_api_root_links_every_resource_and_the_docs(world):
    body = world.a.get("/api/v1/").json()
    assert list(body) == [key for key, _ in (*RESOURCES, *DOCUMENTS)]
    assert body["clients"] == "http://testserver/api/v1/clients/"
    assert body["docs"] == "http://testserver/api/docs/" and body["redoc"] == "http://testserver/api/redoc/"
    for key, url in body.items():
        path = url.removeprefix("http://testserver")
        answer = world.a.get(path) if key not in ("birthday_batch",) else world.a.post(path, {}, format="json")
        assert answer.status_code not in (404, 405, 500), (key, answer.status_code)
    # Open to everyone: it names no tenant's data.
    assert DjangoClient().get("/api/v1/").status_code == 200


def test_redoc_is_served_from_the_projects_own_files():
    page = DjangoClient().get(reverse("redoc")).content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in page
    assert "googleapis" not in page and "https://" not in page
    assert reverse("schema") in page


def test_list_rows_link_their_detail(world):
    created = world.a.post("/api/v1/clients/", {"first_name": "Ada"}, format="json")
    assert created.status_code == 201
    (row,) = world.a.get("/api/v1/clients/").json()["results"]
    assert row["url"] == f"http://testserver/api/v1/clients/{row['id']}/"
    assert world.a.get(row["url"].removeprefix("http://testserver")).json()["id"] == row["id"]
