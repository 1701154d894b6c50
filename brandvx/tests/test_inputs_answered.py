"""Every input answered (issue 13 part 3 and 4, issue 11 part 5): one regression test per case
that used to give a 500, a silently dropped value, or a schema that said otherwise."""

from __future__ import annotations

import base64
import datetime
import io

import pytest
from drf_spectacular.generators import SchemaGenerator

from analytics.rules import MAX_LINE_ITEMS
from tenants.context import tenant_context
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

ANALYTICS = [
    "/api/v1/analytics/dashboard/",
    "/api/v1/analytics/revenue-by-service/",
    "/api/v1/analytics/revenue-timeseries/",
    "/api/v1/analytics/top-clients/",
]


def _error(response, status: int = 400, parameter: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"code", "detail"}, body
    if parameter is not None:
        assert parameter in body.get("fields", {}), body
    return body


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


# --- the schema ----------------------------------------------------------------------------


def test_every_operation_documents_its_errors_with_the_error_body(schema):
    checked = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"400"}
            if any(operation.get("security", [{}])[0:1]) and operation.get("security") != [{}]:
                expected |= {"401", "403", "429"}
            if "{" in path:
                expected.add("404")
            assert expected <= set(responses), f"{method} {path}: {sorted(responses)}"
            for status in expected:
                content = responses[status]["content"]
                assert all(media["schema"] == {"$ref": "#/components/schemas/Error"} for media in content.values())
            checked += 1
    assert checked > 60
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "detail"]


def test_declared_conflicts_and_unavailable_queues_are_documented(schema):
    paths = schema["paths"]
    assert "409" in paths["/api/v1/jobs/{id}/cancel/"]["post"]["responses"]
    assert "503" in paths["/api/v1/campaigns/birthday-batch/"]["post"]["responses"]
    assert {"409", "503"} <= set(paths["/api/v1/integrations/{provider}/sync/"]["post"]["responses"])


def test_every_request_body_refuses_unknown_properties(schema):
    components = schema["components"]["schemas"]
    bodies = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                name = media["schema"]["$ref"].rsplit("/", 1)[-1]
                # A body with one shape per case (`oneOf`, e.g. per provider): each case refuses them.
                cases = [components[case["$ref"].rsplit("/", 1)[-1]] for case in components[name].get("oneOf", [])]
                for case in cases or [components[name]]:
                    assert case.get("additionalProperties") is False, f"{method} {path}: {name}"
                bodies += 1
    assert bodies > 20


def test_limits_are_in_the_schema(schema):
    paths, components = schema["paths"], schema["components"]["schemas"]

    def parameter(path, name):
        return next(p for p in paths[path]["get"]["parameters"] if p["name"] == name)["schema"]

    assert parameter("/api/v1/analytics/top-clients/", "limit")["minimum"] == 1
    assert parameter("/api/v1/jobs/", "page_size") == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    assert parameter("/api/v1/clients/", "birthday_month")["maximum"] == 12
    assert parameter("/api/v1/clients/", "search")["maxLength"] == 200
    assert "pattern" in parameter("/api/v1/analytics/dashboard/", "start")
    assert components["BulkApproveRequestRequest"]["properties"]["ids"]["minItems"] == 1
    assert components["TransactionRequest"]["properties"]["line_items"]["maxItems"] == MAX_LINE_ITEMS
    assert components["TransactionRequest"]["additionalProperties"] is False
    assert components["CampaignSettings"]["properties"]["updated_at"]["nullable"] is True


# --- query parameters ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ANALYTICS)
@pytest.mark.parametrize(
    "start,end,parameter",
    [
        ("0001-01-01", "0001-01-02", "start"),
        ("9999-12-30", "9999-12-31", "start"),
        ("2025-01-01", "9999-12-31", "end"),
    ],
)
def test_analytics_dates_the_server_cannot_compute_are_400(full_world, url, start, end, parameter):
    # Tenant B is in Pacific/Auckland, ahead of UTC: local midnights near year 1 overflowed.
    _error(full_world.b.get(url, {"start": start, "end": end}), parameter=parameter)


@pytest.mark.parametrize("url", ANALYTICS)
def test_the_longest_period_is_what_the_schema_says(full_world, url, schema):
    # Documented (OpenAPI and docs/insights.md): shorter than three years.
    end = next(p for p in schema["paths"][url]["get"]["parameters"] if p["name"] == "end")
    assert "before the same date 3 years after start" in end["description"]
    assert full_world.a.get(url, {"start": "2022-01-01", "end": "2024-12-31"}).status_code == 200
    _error(full_world.a.get(url, {"start": "2022-01-01", "end": "2025-01-01"}), parameter="end")


@pytest.mark.parametrize("limit", ["0", "-1", "101", "1.5", ""])
def test_top_clients_limit_is_bounded(full_world, limit):
    response = full_world.a.get(ANALYTICS[3], {"start": "2025-01-01", "end": "2025-01-31", "limit": limit})
    _error(response, parameter="limit")


def test_birthdays_far_dates_are_400_naming_from(full_world):
    _error(full_world.a.get("/api/v1/clients/birthdays/", {"from": "9999-12-31", "days_ahead": 366}), parameter="from")
    assert full_world.a.get("/api/v1/clients/birthdays/", {"from": "2999-12-31", "days_ahead": 366}).status_code == 200
    _error(full_world.a.get("/api/v1/clients/birthdays/", {"days_ahead": 367}), parameter="days_ahead")


@pytest.mark.parametrize(
    "url,params,parameter",
    [
        ("/api/v1/transactions/", {"end": "9999-12-31"}, "end"),
        ("/api/v1/appointments/", {"start": "0001-01-01"}, "start"),
        ("/api/v1/message-drafts/", {"occasion_date_after": "9999-12-31"}, "occasion_date"),
        ("/api/v1/transactions/", {"status": ""}, "status"),
        ("/api/v1/transactions/", {"status": "bogus"}, "status"),
        ("/api/v1/message-drafts/", {"status": "bogus"}, "status"),
        ("/api/v1/clients/", {"sms_consent": "null"}, "sms_consent"),
        ("/api/v1/clients/", {"birthday_month": "13"}, "birthday_month"),
        ("/api/v1/clients/", {"search": "x" * 201}, "search"),
        ("/api/v1/clients/", {"ordering": "password"}, "ordering"),
        ("/api/v1/clients/", {"ordering": ""}, "ordering"),
        ("/api/v1/jobs/", {"page_size": "null"}, "page_size"),
        ("/api/v1/jobs/", {"page_size": "501"}, "page_size"),
        ("/api/v1/clients/export/", {"format": "xml"}, "format"),
    ],
)
def test_query_values_outside_the_schema_are_400_naming_them(full_world, url, params, parameter):
    _error(full_world.a.get(url, params), parameter=parameter)


def test_an_id_filter_of_another_tenant_finds_nothing(full_world):
    other = full_world.data["b"]["clients"]["client_id"]
    response = full_world.a.get("/api/v1/transactions/", {"client": str(other)})
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        base64.b64encode(b"p=not-a-date&o=0&r=0").decode(),  # decodes, but the position fits no column
        base64.b64encode(b"p=%00&o=0&r=0").decode(),  # a NUL PostgreSQL cannot take
        "A" * 1001,
    ],
)
def test_a_cursor_not_handed_out_is_400_naming_it(full_world, cursor):
    for url in ("/api/v1/jobs/", "/api/v1/transactions/", "/api/v1/clients/"):
        _error(full_world.a.get(url, {"cursor": cursor}), parameter="cursor")


def test_a_path_that_is_no_route_answers_json_404(full_world):
    body = _error(full_world.a.get("/api/v1/clients/0.5/"), status=404)
    assert body["code"] == "not_found"


# --- bodies --------------------------------------------------------------------------------


def test_an_appointment_at_the_end_of_time_without_end_is_400(full_world):
    response = full_world.a.post("/api/v1/appointments/", {"start_at": "9999-12-31T23:59:59Z"})
    _error(response, parameter="start_at")
    ok = full_world.a.post("/api/v1/appointments/", {"start_at": "2999-12-31T23:59:00Z"})
    assert ok.status_code == 201, ok.content


def test_a_sale_with_thousands_of_lines_is_refused(full_world):
    lines = [{"amount": 1, "description": "x"}] * 20_000
    response = full_world.a.post("/api/v1/transactions/", {"occurred_at": "2025-01-01T10:00:00Z", "line_items": lines})
    _error(response, parameter="line_items")
    lines = [{"amount": 1, "description": "x"}] * MAX_LINE_ITEMS
    response = full_world.a.post("/api/v1/transactions/", {"occurred_at": "2025-01-01T10:00:00Z", "line_items": lines})
    assert response.status_code == 201, response.content


def test_amounts_beyond_the_limit_are_refused(full_world):
    response = full_world.a.post(
        "/api/v1/transactions/", {"occurred_at": "2025-01-01T10:00:00Z", "total_amount": 10**12 + 1}
    )
    _error(response, parameter="total_amount")


@pytest.mark.parametrize(
    "url,method,body",
    [
        ("/api/v1/clients/", "post", {"first_name": "Amy", "favourite_colour": "teal"}),
        ("/api/v1/service-categories/", "post", {"name": "Color", "colour": "red"}),
        ("/api/v1/services/", "post", {"name": "Cut", "discount": 5}),
        ("/api/v1/appointments/", "post", {"start_at": "2025-01-01T10:00:00Z", "room": "2"}),
        ("/api/v1/transactions/", "post", {"occurred_at": "2025-01-01T10:00:00Z", "total_amount": 100, "tip": 5}),
        (
            "/api/v1/transactions/",
            "post",
            {"occurred_at": "2025-01-01T10:00:00Z", "line_items": [{"amount": 1, "sku": "x"}]},
        ),
        ("/api/v1/campaigns/settings/", "patch", {"birthday_run_hour": 9, "send_at": "now"}),
        ("/api/v1/campaigns/birthday-batch/", "post", {"days_ahead": 7, "dry_run": True}),
        ("/api/v1/message-drafts/bulk-approve/", "post", {"ids": [], "all": True}),
        ("/api/v1/integrations/", "post", {"provider": "hubspot", "credentials": {}, "owner": "me"}),
        ("/api/v1/clients/merge/", "post", {"source": "a", "target": "b", "keep": "both"}),
    ],
)
def test_unknown_fields_are_400_naming_them(full_world, url, method, body):
    response = getattr(full_world.a, method)(url, body, format="json")
    assert response.status_code == 400, response.content
    text = response.content.decode()
    unknown = next(
        key
        for key in (
            "favourite_colour",
            "colour",
            "discount",
            "room",
            "tip",
            "sku",
            "send_at",
            "dry_run",
            "all",
            "owner",
            "keep",
        )
        if key in text
    )
    assert unknown


@pytest.mark.parametrize(
    "url,method",
    [
        ("/api/v1/campaigns/settings/", "patch"),
        ("/api/v1/clients/", "post"),
        ("/api/v1/transactions/", "post"),
        ("/api/v1/message-drafts/bulk-approve/", "post"),
        ("/api/v1/campaigns/birthday-batch/", "post"),
    ],
)
@pytest.mark.parametrize("body", [b"null", b"[]", b"7", b'"text"'])
def test_a_json_body_that_is_not_an_object_is_400(full_world, url, method, body):
    response = getattr(full_world.a, method)(url, body, content_type="application/json")
    assert response.status_code == 400, response.content


def test_a_read_only_field_sent_back_is_named(full_world):
    client_id = full_world.data["a"]["clients"]["client_id"]
    response = full_world.a.patch(f"/api/v1/clients/{client_id}/", {"display_name": "Ada"}, format="json")
    body = _error(response, parameter="display_name")
    assert body["fields"]["display_name"] == ["Unknown field."]


@pytest.mark.parametrize(
    "url,body,field",
    [
        ("/api/v1/service-categories/", {"name": "Color", "external_id": 0}, "external_id"),
        ("/api/v1/message-drafts/bulk-approve/", {"ids": [False]}, "ids"),
        ("/api/v1/campaigns/settings/", {"twilio_auth_token": 0}, "twilio_auth_token"),
        ("/api/v1/clients/", {"first_name": "Amy", "email_consent": "yes"}, "email_consent"),
    ],
)
def test_json_values_of_the_wrong_type_are_refused_not_converted(full_world, url, body, field):
    method = full_world.a.patch if "settings" in url else full_world.a.post
    _error(method(url, body, format="json"), parameter=field)


# --- form and multipart bodies get the JSON parser's strictness --------------------------------


def test_form_bodies_with_nul_or_bad_utf8_are_400(full_world):
    for body in (b"first_name=A%00B", b"first_name=%FF%FE", b"first%00name=A"):
        response = full_world.a.generic(
            "POST", "/api/v1/clients/", body, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 400 and response.json()["code"] == "parse_error", response.content
    # A browser form (the browsable API) sends its CSRF token along: not an unknown field.
    fine = full_world.a.generic(
        "POST",
        "/api/v1/clients/",
        b"first_name=Ren%C3%A9e&csrfmiddlewaretoken=abc",
        content_type="application/x-www-form-urlencoded",
    )
    assert fine.status_code == 201 and fine.json()["first_name"] == "Renée"


def test_multipart_bodies_with_nul_are_400(full_world):
    response = full_world.a.post("/api/v1/clients/", {"first_name": "A\x00B"}, format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    upload = io.BytesIO(b"first_name\nAmy\n")
    upload.name = "clients.csv"
    response = full_world.a.post("/api/v1/clients/import/", {"file": upload, "note": "\x00"}, format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


# --- writes accept what reads show -------------------------------------------------------------


@pytest.mark.parametrize(
    "birthday,split",
    [
        ("1990-01-02", (1, 2, 1990)),
        ("--02-29", (2, 29, None)),
    ],
)
def test_birthday_is_written_as_it_is_read(full_world, birthday, split):
    created = full_world.a.post("/api/v1/clients/", {"first_name": "Amy", "birthday": birthday}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["birthday"] == birthday
    assert (body["birthday_month"], body["birthday_day"], body["birth_year"]) == split
    cleared = full_world.a.patch(f"/api/v1/clients/{body['id']}/", {"birthday": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["birthday"] is None and cleared.json()["birth_year"] is None


def test_a_birthday_contradicting_the_split_fields_is_refused(full_world):
    response = full_world.a.post(
        "/api/v1/clients/", {"first_name": "Amy", "birthday": "1990-01-02", "birthday_month": 3}, format="json"
    )
    body = _error(response)
    assert {"birthday", "birthday_month"} <= set(body["fields"])
    agreeing = full_world.a.post(
        "/api/v1/clients/",
        {"first_name": "Amy", "birthday": "1990-01-02", "birthday_month": 1, "birth_year": 1990},
        format="json",
    )
    assert agreeing.status_code == 201 and agreeing.json()["birthday"] == "1990-01-02"
    for bad in ("1990-02-30", "02-03", "--13-01", 19900102):
        _error(
            full_world.a.post("/api/v1/clients/", {"first_name": "Amy", "birthday": bad}, format="json"),
            parameter="birthday",
        )


# --- responses conform -----------------------------------------------------------------------


def test_campaign_settings_of_a_fresh_tenant_read_updated_at_null(world):
    response = world.a.get("/api/v1/campaigns/settings/")
    assert response.status_code == 200 and response.json()["updated_at"] is None


def test_a_service_without_category_keeps_category_name_in_patch_responses(full_world):
    service = full_world.a.post("/api/v1/services/", {"name": "Trim"}, format="json").json()
    patched = full_world.a.patch(f"/api/v1/services/{service['id']}/", {"external_id": "x"}, format="json")
    assert patched.status_code == 200 and patched.json()["category_name"] is None


def test_supported_date_range_is_what_the_server_computes(full_world):
    # The last supported local day in a zone ahead of UTC still has a computable end.
    tenant = Tenant.objects.get(id=full_world.tenant_b.id)
    with tenant_context(tenant.id, role="owner_admin"):
        from analytics.periods import local_bounds

        begin, finish = local_bounds(tenant, datetime.date(2999, 12, 31), datetime.date(2999, 12, 31))
    assert finish > begin
