"""Connections API, sync requests and the custom CRM push: roles, isolation, secrecy."""

from __future__ import annotations

import uuid

import pytest
import responses
from django.db import connections

from clients.models import Client
from integrations.merchants import square_merchant_record
from integrations.models import ConnectionRoute, IntegrationConnection
from integrations.sync import square_merchant_verify
from integrations.tests import fakes
from integrations.tests.helpers import SQUARE_CREDENTIALS, connect, no_wait_policy, reload
from tenants.context import tenant_context
from tenants.models import BackgroundJob

pytestmark = pytest.mark.django_db

SECRET = "sq-access-VERY-SECRET-9c1f"
URL = "/api/v1/integrations/"


def create_square(api, **extra):
    body = {
        "provider": "square",
        "credentials": {"access_token": SECRET, "refresh_token": "refresh-SECRET-2"},
        "config": {"location_ids": ["LOC1"]},
        **extra,
    }
    return api.post(URL, body, format="json")


def test_owner_creates_a_connection_and_credentials_are_write_only(world):
    response = create_square(world.a)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["credential_keys"] == ["access_token", "refresh_token"]
    assert "credentials" not in body and SECRET not in response.content.decode()
    assert body["config"] == {"location_ids": ["LOC1"]} and body["status"] == "active"
    for path in (URL, f"{URL}{body['id']}/"):
        listed = world.a.get(path)
        assert listed.status_code == 200 and SECRET not in listed.content.decode()
        assert "refresh-SECRET-2" not in listed.content.decode()


def test_credentials_are_ciphertext_in_the_database_row(world):
    connection = connect(world.tenant_a, "square", credentials={"access_token": SECRET})
    with tenant_context(world.tenant_a.id, role="owner_admin"), connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT credentials, config::text FROM integrations_integrationconnection WHERE id = %s", [connection.id]
        )
        raw, config = cursor.fetchone()
    assert SECRET not in raw and SECRET not in config
    assert raw.startswith("gAAAA")  # a Fernet token
    assert reload(connection).credentials["access_token"] == SECRET


def test_bad_input_names_the_field(world):
    cases = [
        ({"provider": "square", "credentials": {}}, "credentials.access_token"),
        ({"provider": "square", "credentials": {"access_token": "x", "password": "y"}}, "credentials.password"),
        (
            {"provider": "acuity", "credentials": {"user_id": "1", "api_key": "k"}, "config": {"window_days": 0}},
            "config.window_days",
        ),
        ({"provider": "hubspot", "credentials": {"access_token": "x"}, "config": {"colour": "red"}}, "config.colour"),
    ]
    for body, parameter in cases:
        response = world.a.post(URL, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert response.json()["fields"].keys() == {parameter}
    assert world.a.post(URL, {"provider": "myspace"}, format="json").status_code == 400
    assert create_square(world.a).status_code == 201
    duplicate = create_square(world.a)
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "connection_exists"


def test_only_owner_admin_sees_or_changes_connections(world):
    connection = connect(world.tenant_a, "square")
    for user in (world.staff_a, world.viewer_a):
        api = world.client(user, world.tenant_a)
        assert api.get(URL).status_code == 403
        assert api.get(f"{URL}{connection.id}/").status_code == 403
        assert create_square(api).status_code == 403
        assert api.post(f"{URL}square/sync/").status_code == 403
        assert api.post(f"{URL}{connection.id}/disable/").status_code == 403


def test_update_merges_credentials_and_reconnecting_clears_needs_reauth(world):
    connection = connect(world.tenant_a, "square")
    with tenant_context(world.tenant_a.id, role="system"):
        IntegrationConnection.objects.filter(id=connection.id).update(status="needs_reauth", last_error="401")

    response = world.a.patch(f"{URL}{connection.id}/", {"credentials": {"access_token": "fresh"}}, format="json")

    assert response.status_code == 200 and response.json()["status"] == "active"
    stored = reload(connection).credentials
    assert stored["access_token"] == "fresh" and stored["refresh_token"] == "sq-refresh-1"
    disabled = world.a.post(f"{URL}{connection.id}/disable/")
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    refused = world.a.post(f"{URL}square/sync/")
    assert refused.status_code == 409 and refused.json()["code"] == "connection_disabled"


def test_sync_request_is_202_with_a_job_enqueued_on_commit(world, django_capture_on_commit_callbacks):
    connect(world.tenant_a, "square")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = world.a.post(f"{URL}square/sync/")

    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert len(callbacks) == 1
    job = world.a.get(f"/api/v1/jobs/{job_id}/").json()
    assert job["kind"] == "integrations.sync.square" and job["status"] == "queued"
    again = world.a.post(f"{URL}square/sync/")
    assert again.status_code == 409 and again.json()["code"] == "sync_in_progress" and again.json()["job_id"] == job_id
    assert world.a.post(f"{URL}hubspot/sync/").status_code == 404  # not connected
    assert world.a.post(f"{URL}myspace/sync/").json()["fields"].keys() == {"provider"}


def test_tenant_b_never_sees_or_touches_tenant_a_connections_and_jobs(world, django_capture_on_commit_callbacks):
    a_connection = connect(world.tenant_a, "square", credentials={"access_token": SECRET})
    b_connection = connect(world.tenant_b, "square", config={"merchant_id": "M-B"})
    with django_capture_on_commit_callbacks(execute=False):
        a_job = world.a.post(f"{URL}square/sync/").json()["job_id"]
        b_job = world.b.post(f"{URL}square/sync/").json()["job_id"]

    listed = world.b.get(URL)
    assert [c["id"] for c in listed.json()["results"]] == [str(b_connection.id)]
    for method, path in (
        ("get", f"{URL}{a_connection.id}/"),
        ("patch", f"{URL}{a_connection.id}/"),
        ("post", f"{URL}{a_connection.id}/disable/"),
        ("post", f"{URL}{a_connection.id}/rotate-key/"),
        ("get", f"/api/v1/jobs/{a_job}/"),
    ):
        response = getattr(world.b, method)(
            path, {"credentials": {"access_token": "stolen"}} if method == "patch" else None, format="json"
        )
        assert response.status_code == 404, (method, path, response.status_code)
    jobs = world.b.get("/api/v1/jobs/").json()["results"]
    assert [j["id"] for j in jobs] == [b_job]
    assert reload(a_connection).credentials["access_token"] == SECRET and reload(a_connection).status == "active"
    with tenant_context(world.tenant_a.id, role="system"):
        assert BackgroundJob.objects.get(id=a_job).params["connection_id"] == str(a_connection.id)


def test_a_request_cannot_name_the_square_merchant(world):
    """The merchant id comes from Square, never from the request: naming one is 400 whether
    or not another tenant uses it (no oracle), and nothing is routed."""
    connect(world.tenant_b, "square", config={"merchant_id": "MERCH-B"})  # verified for tenant B
    answers = []
    for merchant in ("MERCH-B", "MERCH-NOBODY"):
        response = create_square(world.a, config={"merchant_id": merchant})
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400 and answers[0][1]["fields"].keys() == {"config.merchant_id"}

    connection = connect(world.tenant_a, "square", config={"merchant_id": "MERCH-A"})
    for merchant in ("MERCH-B", "MERCH-NOBODY"):
        response = world.a.patch(f"{URL}{connection.id}/", {"config": {"merchant_id": merchant}}, format="json")
        assert response.status_code == 400 and response.json()["fields"].keys() == {"config.merchant_id"}
    # The config as read back may be sent back: the verified id is kept, not re-claimed.
    echoed = world.a.patch(
        f"{URL}{connection.id}/", {"config": {"merchant_id": "MERCH-A", "location_ids": ["L2"]}}, format="json"
    )
    assert echoed.status_code == 200 and echoed.json()["config"] == {"merchant_id": "MERCH-A", "location_ids": ["L2"]}
    assert sorted(ConnectionRoute.objects.filter(kind="square_merchant").values_list("lookup", "routed_tenant_id")) == [
        ("MERCH-A", world.tenant_a.id),
        ("MERCH-B", world.tenant_b.id),
    ]


@responses.activate
def test_the_merchant_is_what_square_answers_for_the_connections_token(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = create_square(world.a, credentials={"access_token": SECRET})
    assert response.status_code == 201 and "merchant_id" not in response.json()["config"]
    assert len(callbacks) == 1  # the verification, enqueued after commit
    connection_id = response.json()["id"]
    assert not ConnectionRoute.objects.filter(connection_id=connection_id).exists()
    responses.add(responses.GET, f"{fakes.SQUARE}/v2/merchants/me", json={"merchant": fakes.square_merchant("MLSQ-A")})

    assert (
        square_merchant_verify(tenant_id=world.tenant_a.id, connection_id=connection_id, policy=no_wait_policy())
        == "MLSQ-A"
    )

    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {SECRET}"
    assert world.a.get(f"{URL}{connection_id}/").json()["config"]["merchant_id"] == "MLSQ-A"
    assert list(ConnectionRoute.objects.filter(kind="square_merchant").values_list("lookup", "connection_id")) == [
        ("MLSQ-A", uuid.UUID(connection_id))
    ]


def test_a_new_access_token_unverifies_the_merchant_until_square_answers(world, django_capture_on_commit_callbacks):
    connection = connect(world.tenant_a, "square", config={"merchant_id": "MERCH-A"})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = world.a.patch(
            f"{URL}{connection.id}/", {"credentials": {"access_token": "token-of-another-merchant"}}, format="json"
        )
    assert response.status_code == 200 and "merchant_id" not in response.json()["config"]
    assert len(callbacks) == 1
    assert not ConnectionRoute.objects.filter(kind="square_merchant").exists()
    # A verification answered for the old token is not recorded for the new one.
    assert not square_merchant_record(
        tenant_id=world.tenant_a.id,
        connection_id=connection.id,
        merchant_id="MERCH-A",
        access_token=SQUARE_CREDENTIALS["access_token"],
    )
    assert "merchant_id" not in reload(connection).config


def test_two_tenants_holding_tokens_for_one_merchant_both_connect(world):
    """Two BrandVX accounts of one business: both verified for the same merchant, neither
    refused nor told about the other; both routes exist (webhooks fan out, see test_webhooks)."""
    a = connect(world.tenant_a, "square", config={"merchant_id": "MERCH-SHARED"})
    b = connect(world.tenant_b, "square", config={"merchant_id": "MERCH-SHARED"})
    assert world.a.get(f"{URL}{a.id}/").json()["config"] == world.b.get(f"{URL}{b.id}/").json()["config"]
    assert set(ConnectionRoute.objects.filter(lookup="MERCH-SHARED").values_list("routed_tenant_id", flat=True)) == {
        world.tenant_a.id,
        world.tenant_b.id,
    }


# --- custom CRM push --------------------------------------------------------------------

IMPORT_URL = "/api/v1/integrations/custom_crm/import/"


def custom_crm_key(api) -> str:
    response = api.post(URL, {"provider": "custom_crm"}, format="json")
    assert response.status_code == 201
    key = response.json()["api_key"]
    assert key and key not in api.get(URL).content.decode()  # shown once, never again
    return key


def test_custom_crm_push_with_the_connection_key(world):
    from rest_framework.test import APIClient

    key = custom_crm_key(world.a)
    payload = {
        "contacts": [
            {
                "external_id": "crm-1",
                "first_name": "Ana",
                "email": "ana@example.com",
                "birthday": "1990-07-04",
                "email_consent": True,
            },
            {"external_id": "crm-2", "email": "broken"},
            {"external_id": "crm-3", "first_name": "Bo", "phone": "+14155550142"},
        ],
        "transactions": [
            {
                "external_id": "t-1",
                "client_external_id": "crm-1",
                "occurred_at": "2024-05-01T10:00:00Z",
                "total_amount": 4500,
            },
            {"external_id": "t-2", "occurred_at": "yesterday", "total_amount": 100},
        ],
    }
    api = APIClient()

    response = api.post(IMPORT_URL, payload, format="json", HTTP_X_BRANDVX_KEY=key)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["contacts"]["created"], body["contacts"]["failed"]) == (2, 1)
    assert body["contacts"]["errors"][0]["external_id"] == "crm-2"
    assert (body["transactions"]["created"], body["transactions"]["failed"]) == (1, 1)
    again = api.post(IMPORT_URL, payload, format="json", HTTP_X_BRANDVX_KEY=key).json()
    assert again["contacts"]["unchanged"] == 2 and again["contacts"]["created"] == 0
    with tenant_context(world.tenant_a.id, role="system"):
        assert Client.objects.filter(source="custom_crm").count() == 2
    with tenant_context(world.tenant_b.id, role="system"):
        assert Client.objects.count() == 0


def test_custom_crm_push_refuses_a_missing_wrong_or_query_string_key(world):
    from rest_framework.test import APIClient

    key = custom_crm_key(world.a)
    api = APIClient()
    body = {"contacts": [{"external_id": "x", "first_name": "X"}]}
    assert api.post(IMPORT_URL, body, format="json").status_code == 401
    assert api.post(IMPORT_URL, body, format="json", HTTP_X_BRANDVX_KEY=key + "x").status_code == 401
    # A key in the query string is no key: the parameter itself is refused (unknown_parameter).
    in_query = api.post(f"{IMPORT_URL}?api_key={key}", body, format="json")
    assert in_query.status_code == 400 and in_query.json()["fields"].keys() == {"api_key"}
    # A user's token is not a key either.
    assert world.a.post(IMPORT_URL, body, format="json").status_code == 401
    rotated = world.a.post(f"{URL}{world.a.get(URL).json()['results'][0]['id']}/rotate-key/").json()["api_key"]
    assert api.post(IMPORT_URL, body, format="json", HTTP_X_BRANDVX_KEY=key).status_code == 401
    assert api.post(IMPORT_URL, body, format="json", HTTP_X_BRANDVX_KEY=rotated).status_code == 200
    bad = api.post(IMPORT_URL, {"contacts": "nope"}, format="json", HTTP_X_BRANDVX_KEY=rotated)
    assert bad.status_code == 400 and bad.json()["fields"].keys() == {"contacts"}


def test_custom_crm_push_refuses_a_refund_the_api_would_refuse_and_keeps_the_records_around_it(world):
    """`refunded` with refunded_amount 0 was stored, and the revenue queries counted the sale
    in full. It is refused with a per-record error, as the transactions API refuses it."""
    from rest_framework.test import APIClient

    from analytics.models import Transaction

    key = custom_crm_key(world.a)
    sale = {"occurred_at": "2024-05-01T10:00:00Z", "total_amount": 4500}
    payload = {
        "transactions": [
            {**sale, "external_id": "t-good-1"},
            {**sale, "external_id": "t-refunded-zero", "status": "refunded", "refunded_amount": 0},
            {**sale, "external_id": "t-refunded-implicit", "status": "refunded"},
            {**sale, "external_id": "t-over", "refunded_amount": 4501},
            {**sale, "external_id": "t-good-2", "status": "refunded", "refunded_amount": 4500},
            {**sale, "external_id": "t-partial", "refunded_amount": 500},
        ]
    }

    response = APIClient().post(IMPORT_URL, payload, format="json", HTTP_X_BRANDVX_KEY=key)

    assert response.status_code == 200, response.content
    body = response.json()["transactions"]
    assert (body["created"], body["failed"]) == (3, 3)
    refused = {error["external_id"]: error["reason"] for error in body["errors"]}
    assert set(refused) == {"t-refunded-zero", "t-refunded-implicit", "t-over"}
    assert refused["t-refunded-zero"].startswith("status: refunded means fully refunded")
    assert refused["t-over"] == "refunded_amount: must not exceed total_amount."
    api_answer = world.a.post(
        "/api/v1/transactions/",
        {**sale, "occurred_at": "2024-05-01T10:00:00Z", "status": "refunded", "refunded_amount": 0},
        format="json",
    )
    assert api_answer.status_code == 400 and api_answer.json()["fields"].keys() == {"status"}
    with tenant_context(world.tenant_a.id, role="system"):
        stored = dict(Transaction.objects.values_list("external_id", "refunded_amount"))
    assert stored == {"t-good-1": 0, "t-good-2": 4500, "t-partial": 500}


def test_the_create_schema_states_each_providers_credentials_and_config():
    """Issue 23: `credentials`/`config` per provider, one `oneOf` branch each, told apart by
    `provider`; each branch refuses keys another provider takes."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    body = schema["paths"]["/api/v1/integrations/"]["post"]["requestBody"]
    assert body["required"] is True
    create = components["IntegrationConnectionCreateRequest"]
    assert create["discriminator"]["propertyName"] == "provider"
    assert set(create["discriminator"]["mapping"]) == {"square", "acuity", "hubspot", "custom_crm"}
    assert len(create["oneOf"]) == 4

    def branch(name):
        return components[create["discriminator"]["mapping"][name].rsplit("/", 1)[1]]

    def properties(ref_or_schema):
        schema_ = ref_or_schema.get("allOf", [ref_or_schema])[0]
        return components[schema_["$ref"].rsplit("/", 1)[1]] if "$ref" in schema_ else schema_

    acuity_credentials = properties(branch("acuity")["properties"]["credentials"])
    assert set(acuity_credentials["required"]) == {"user_id", "api_key"}
    assert acuity_credentials["additionalProperties"] is False
    square_config = properties(branch("square")["properties"]["config"])
    assert set(square_config["properties"]) == {"location_ids", "history_start"}
    assert "credentials" not in branch("custom_crm").get("required", [])
