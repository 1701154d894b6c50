"""The clients API: shapes, roles, and tenant B never reaching tenant A's clients."""

import base64
import datetime
import io
import uuid
from unittest import mock

import pytest

from clients import services
from clients.models import Client, ClientImport, ClientTag
from clients.normalize import contact_hash
from clients.services import client_tag_add
from clients.tasks import client_import_csv_task
from clients.tests.factories import ClientFactory
from tenants.context import tenant_context
from tenants.models import BackgroundJob

pytestmark = pytest.mark.django_db

URL = "/api/v1/clients/"


def detail(client_id):
    return f"{URL}{client_id}/"


def make(tenant, **fields):
    with tenant_context(tenant.id, role="system"):
        if "phone" in fields:
            fields["phone_hash"] = contact_hash(fields["phone"])
        return ClientFactory(tenant=tenant, **fields)


def tag(tenant, client, name):
    with tenant_context(tenant.id, role="system"):
        client_tag_add(tenant=tenant, client_id=client.id, name=name)


def ids(response):
    return [item["id"] for item in response.json()["results"]]


@pytest.fixture
def pair(world):
    a = make(
        world.tenant_a,
        first_name="Amy",
        last_name="Lee",
        email="amy@example.com",
        phone="+14155550123",
        birthday_month=3,
        birthday_day=9,
    )
    b = make(
        world.tenant_b, first_name="Bea", last_name="Ng", email="amy@example.com", birthday_month=3, birthday_day=10
    )
    return a, b


# --- list, search, filters -------------------------------------------------------------


def test_lists_show_only_the_callers_tenant(world, pair):
    a, b = pair
    assert ids(world.a.get(URL)) == [str(a.id)]
    assert ids(world.b.get(URL)) == [str(b.id)]
    assert ids(world.b.get(URL, {"search": "amy@example.com"})) == [str(b.id)]
    assert ids(world.b.get(URL, {"search": "Lee"})) == []


def test_search_filters_and_ordering(world):
    t = world.tenant_a
    amy = make(
        t,
        first_name="Amy",
        last_name="Lee",
        phone="+14155550123",
        birthday_month=12,
        birthday_day=31,
        email_consent=True,
        source="square",
    )
    bea = make(t, first_name="Bea", last_name="Adams", birthday_month=1, birthday_day=1)
    cat = make(t, first_name="Cat", last_name="Zed")
    tag(t, amy, "VIP")
    tag(t, cat, "vip")
    api = world.a
    assert ids(api.get(URL, {"search": "(415) 555-0123"})) == [str(amy.id)]
    assert set(ids(api.get(URL, {"tag": "Vip"}))) == {str(amy.id), str(cat.id)}
    assert ids(api.get(URL, {"source": "square"})) == [str(amy.id)]
    assert ids(api.get(URL, {"birthday_month": 12})) == [str(amy.id)]
    assert ids(api.get(URL, {"birthday_month": 1})) == [str(bea.id)]
    assert ids(api.get(URL, {"has_birthday": "false"})) == [str(cat.id)]
    assert ids(api.get(URL, {"email_consent": "true"})) == [str(amy.id)]
    assert ids(api.get(URL, {"ordering": "last_name"})) == [str(bea.id), str(amy.id), str(cat.id)]
    bad = api.get(URL, {"birthday_month": 13})
    assert bad.status_code == 400 and bad.json()["fields"].keys() == {"birthday_month"}
    # Several filters at once (each request validates only the filters it names).
    assert ids(api.get(URL, {"tag": "vip", "search": "Amy"})) == [str(amy.id)]
    assert ids(api.get(URL, {"tag": "vip", "email_consent": "false"})) == [str(cat.id)]
    bad = api.get(URL, {"tag": "vip", "has_birthday": ""})
    assert bad.status_code == 400 and bad.json()["fields"].keys() == {"has_birthday"}
    item = api.get(detail(amy.id)).json()
    assert item["tags"] == ["VIP"] and item["birthday"] == "--12-31" and item["display_name"] == "Amy Lee"


def test_cursor_pagination(world):
    for i in range(5):
        make(world.tenant_a, first_name=f"C{i}")
    first = world.a.get(URL, {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = world.a.get(first["next"]).json()
    assert len(second["results"]) == 2 and not {r["id"] for r in second["results"]} & {
        r["id"] for r in first["results"]
    }


# --- create, read, update, delete ---------------------------------------------------------


def test_create_normalizes_and_records_consent(world):
    response = world.a.post(
        URL, {"first_name": "Amy", "email": " Amy@Example.com", "phone": "415.555.0123", "sms_consent": True}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["email"], body["phone"], body["sms_consent"]) == ("amy@example.com", "+14155550123", True)
    assert body["sms_consent_at"] is not None and body["email_consent_at"] is None
    changed = world.a.patch(detail(body["id"]), {"email_consent": True})
    assert changed.status_code == 200
    assert changed.json()["email_consent_at"] is not None and changed.json()["sms_consent_at"] == body["sms_consent_at"]


@pytest.mark.parametrize("field, value", [("email", "amy@"), ("phone", "12345"), ("birthday_day", 32)])
def test_invalid_contact_is_a_400_naming_the_field(world, field, value):
    response = world.a.post(URL, {"first_name": "Amy", field: value})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error" and field in response.json()["fields"]
    existing = make(world.tenant_a)
    response = world.a.patch(detail(existing.id), {field: value})
    assert response.status_code == 400 and field in response.json()["fields"]


def test_birthday_rules_reach_the_api_as_field_errors(world):
    response = world.a.post(URL, {"birthday_month": 2, "birthday_day": 30})
    assert response.status_code == 400 and "birthday_day" in response.json()["fields"]


def test_roles_viewer_reads_staff_writes(world):
    client = make(world.tenant_a)
    viewer, staff = world.client(world.viewer_a, world.tenant_a), world.client(world.staff_a, world.tenant_a)
    assert viewer.get(URL).status_code == 200
    assert viewer.get(detail(client.id)).status_code == 200
    assert viewer.post(URL, {"first_name": "X"}).status_code == 403
    assert viewer.patch(detail(client.id), {"first_name": "X"}).status_code == 403
    assert viewer.delete(detail(client.id)).status_code == 403
    assert viewer.post(f"{detail(client.id)}tags/", {"name": "vip"}).status_code == 403
    assert viewer.post(f"{URL}merge/", {"source": str(client.id), "target": str(client.id)}).status_code == 403
    assert viewer.post(f"{URL}import/", {"file": io.BytesIO(b"email\na@b.co\n")}, format="multipart").status_code == 403
    assert staff.post(URL, {"first_name": "X"}).status_code == 201
    assert staff.patch(detail(client.id), {"first_name": "Y"}).status_code == 200
    assert staff.delete(detail(client.id)).status_code == 204


def test_another_tenants_client_is_404_on_every_detail_route(world, pair):
    a, _b = pair
    tag(world.tenant_a, a, "vip")
    b = world.b
    assert b.get(detail(a.id)).status_code == 404
    assert b.put(detail(a.id), {"first_name": "X"}).status_code == 404
    assert b.patch(detail(a.id), {"first_name": "X"}).status_code == 404
    assert b.delete(detail(a.id)).status_code == 404
    assert b.post(f"{detail(a.id)}tags/", {"name": "stolen"}).status_code == 404
    assert b.delete(f"{detail(a.id)}tags/vip/").status_code == 404
    assert b.get(detail("not-a-uuid")).status_code == 404
    with tenant_context(world.tenant_a.id, role="system"):
        a_after = Client.objects.get(id=a.id)
        assert (a_after.first_name, ClientTag.objects.filter(client=a).count()) == ("Amy", 1)


# --- tags ----------------------------------------------------------------------------------


def test_tag_add_is_201_then_200_and_delete_is_404_when_unknown(world):
    client = make(world.tenant_a)
    url = f"{detail(client.id)}tags/"
    first = world.a.post(url, {"name": "VIP"})
    assert first.status_code == 201 and first.json()["created"] and first.json()["client"]["tags"] == ["VIP"]
    again = world.a.post(url, {"name": "vip"})
    assert again.status_code == 200 and not again.json()["created"]
    assert world.a.post(url, {"name": ""}).status_code == 400
    assert world.a.delete(f"{url}nope/").status_code == 404
    assert world.a.delete(f"{url}Vip/").status_code == 204
    assert world.a.delete(f"{url}VIP/").status_code == 404
    spaced = world.a.post(url, {"name": "Bridal party"})
    assert spaced.status_code == 201
    assert world.a.delete(f"{url}Bridal%20party/").status_code == 204


def test_tag_list_counts_clients_and_hides_other_tenants(world, pair):
    a, b = pair
    tag(world.tenant_a, a, "vip-a")
    tag(world.tenant_b, b, "vip-b")
    mine = world.a.get("/api/v1/tags/").json()["results"]
    assert [(t["name"], t["client_count"]) for t in mine] == [("vip-a", 1)]
    theirs = world.b.get("/api/v1/tags/").json()["results"]
    assert [t["name"] for t in theirs] == ["vip-b"]
    assert world.b.get(f"/api/v1/tags/{mine[0]['id']}/").status_code == 404
    assert world.client(world.viewer_a, world.tenant_a).get("/api/v1/tags/").status_code == 200


# --- birthdays -----------------------------------------------------------------------------

BIRTHDAYS = f"{URL}birthdays/"


def test_birthdays_default_to_each_tenants_own_today(world, pair):
    a, b = pair  # A's client: Mar 9; B's client: Mar 10
    instant = datetime.datetime(2025, 3, 10, 5, 0, tzinfo=datetime.UTC)  # Mar 9 in LA, Mar 10 in Auckland
    with mock.patch("django.utils.timezone.now", return_value=instant):
        seen_a = world.a.get(BIRTHDAYS, {"days_ahead": 0}).json()
        seen_b = world.b.get(BIRTHDAYS, {"days_ahead": 0}).json()
    assert seen_a["start"] == "2025-03-09" and [i["client"]["id"] for i in seen_a["results"]] == [str(a.id)]
    assert seen_b["start"] == "2025-03-10" and [i["client"]["id"] for i in seen_b["results"]] == [str(b.id)]


def test_birthdays_items_wrap_the_year_and_handle_feb_29(world):
    t = world.tenant_a
    jan = make(t, first_name="Jan", birthday_month=1, birthday_day=2, birth_year=1990)
    dec = make(t, first_name="Dec", birthday_month=12, birthday_day=30)
    leap = make(t, first_name="Leap", birthday_month=2, birthday_day=29, birth_year=2000)
    body = world.a.get(BIRTHDAYS, {"days_ahead": 7, "from": "2025-12-28"}).json()
    assert body["end"] == "2026-01-04" and body["count"] == 2
    assert [(i["client"]["id"], i["date"], i["days_until"], i["turning"]) for i in body["results"]] == [
        (str(dec.id), "2025-12-30", 2, None),
        (str(jan.id), "2026-01-02", 5, 36),
    ]
    common = world.a.get(BIRTHDAYS, {"days_ahead": 0, "from": "2025-02-28"}).json()["results"]
    assert [(i["client"]["id"], i["date"], i["turning"]) for i in common] == [(str(leap.id), "2025-02-28", 25)]
    assert world.a.get(BIRTHDAYS, {"days_ahead": 0, "from": "2024-02-28"}).json()["results"] == []
    assert [i["date"] for i in world.a.get(BIRTHDAYS, {"days_ahead": 0, "from": "2024-02-29"}).json()["results"]] == [
        "2024-02-29"
    ]


@pytest.mark.parametrize(
    "params, parameter",
    [
        ({"days_ahead": -1}, "days_ahead"),
        ({"days_ahead": 367}, "days_ahead"),
        ({"days_ahead": "week"}, "days_ahead"),
        ({"from": "2025-02-30"}, "from"),
        ({"from": "tomorrow"}, "from"),
    ],
)
def test_birthdays_bad_parameters_are_400_naming_them(world, params, parameter):
    response = world.a.get(BIRTHDAYS, params)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error" and response.json()["fields"].keys() == {parameter}


def test_birthdays_bounds_are_inclusive_and_filters_apply(world):
    t = world.tenant_a
    one = make(t, birthday_month=6, birthday_day=1, sms_consent=True)
    make(t, birthday_month=6, birthday_day=2)
    assert world.a.get(BIRTHDAYS, {"days_ahead": 366, "from": "2025-06-02"}).json()["count"] == 2
    only = world.a.get(BIRTHDAYS, {"days_ahead": 0, "from": "2025-06-01", "sms_consent": "true"}).json()
    assert [i["client"]["id"] for i in only["results"]] == [str(one.id)]
    assert world.client(world.viewer_a, world.tenant_a).get(BIRTHDAYS).status_code == 200


def _window_pages(api, params):
    """Every page of a window, following `next`; and back from the last, following `previous`."""
    pages = [api.get(BIRTHDAYS, params)]
    while pages[-1].json()["next"]:
        assert len(pages) < 100, "the pages never end"
        pages.append(api.get(pages[-1].json()["next"]))
    back = [pages[-1]]
    while back[-1].json()["previous"]:
        assert len(back) < 100, "the pages never end"
        back.append(api.get(back[-1].json()["previous"]))
    return pages, back


def test_birthdays_page_through_the_window_in_order(world):
    t = world.tenant_a
    # Across new year, and Feb 28 of a common year (2027) with its Feb 29 birthdays.
    for n, (month, day) in enumerate([(12, 31), (1, 1), (2, 28), (2, 29), (3, 1)] * 3):
        make(
            t,
            last_name=f"Name{n % 4}",
            first_name=f"F{n}",
            birthday_month=month,
            birthday_day=day,
            sms_consent=n % 2 == 0,
        )
    make(
        t,
        last_name="Gone",
        birthday_month=1,
        birthday_day=1,
        archived_at=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
    )
    for start, days_ahead, filters in (
        ("2026-12-31", 60, {}),
        ("2027-02-28", 1, {}),
        ("2026-12-31", 60, {"sms_consent": "true"}),
    ):
        params = {"from": start, "days_ahead": days_ahead, **filters}
        whole = world.a.get(BIRTHDAYS, {**params, "page_size": 500}).json()
        assert whole["next"] is None and whole["previous"] is None and whole["count"] == len(whole["results"]) > 0
        pages, back = _window_pages(world.a, {**params, "page_size": 2})
        for response in pages + back:
            body = response.json()
            assert response.status_code == 200 and len(body["results"]) <= 2
            assert (body["start"], body["count"]) == (start, whole["count"])
        assert [item for page in pages for item in page.json()["results"]] == whole["results"]
        assert [item for page in reversed(back) for item in page.json()["results"]] == whole["results"]
        assert pages[0].json()["previous"] is None and len(pages) == -(-whole["count"] // 2)
        # The links name the window's first day: pages of one window, whatever today is.
        assert all(f"from={start}" in page.json()["next"] for page in pages[:-1])
    sms = world.a.get(BIRTHDAYS, {"from": "2026-12-31", "days_ahead": 60, "sms_consent": "true", "page_size": 500})
    assert sms.json()["count"] == 8  # the filters apply to the count too
    default = world.a.get(BIRTHDAYS, {"from": "2026-12-31", "days_ahead": 60}).json()
    assert len(default["results"]) == default["count"] == 15  # 50 to a page by default


def test_birthdays_cursor_of_another_tenant_shows_nothing_of_it(world):
    a_clients = [make(world.tenant_a, last_name=f"A{n}", birthday_month=5, birthday_day=1) for n in range(3)]
    b_clients = [make(world.tenant_b, last_name=f"B{n}", birthday_month=5, birthday_day=1) for n in range(3)]
    first = world.a.get(BIRTHDAYS, {"from": "2025-05-01", "days_ahead": 0, "page_size": 1}).json()
    assert [i["client"]["id"] for i in first["results"]] == [str(a_clients[0].id)]
    # Tenant A's cursor (a position holding A's client's name and id) used by tenant B.
    seen = world.b.get(first["next"])
    assert seen.status_code == 200
    ids = {i["client"]["id"] for i in seen.json()["results"]}
    assert ids <= {str(c.id) for c in b_clients} and seen.json()["count"] == 3
    assert not ids & {str(c.id) for c in a_clients}


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        "W10",  # base64 of []
        "WyI-IiwiMjAyNS0wNS0wMSIsIiIsIiIsIm5vdC1hbi1pZCJd",  # an id that is not a UUID
        "x" * 2001,
    ],
)
def test_birthdays_bad_cursors_are_400_naming_cursor(world, cursor):
    response = world.a.get(BIRTHDAYS, {"from": "2025-05-01", "days_ahead": 0, "cursor": cursor})
    assert response.status_code == 400 and response.json()["fields"].keys() == {"cursor"}, response.json()


def test_birthdays_cursor_outside_the_window_or_with_a_nul_is_400(world):
    make(world.tenant_a, last_name="Early", birthday_month=5, birthday_day=1)
    make(world.tenant_a, last_name="Later", birthday_month=5, birthday_day=1)
    first = world.a.get(BIRTHDAYS, {"from": "2025-05-01", "days_ahead": 0, "page_size": 1}).json()
    cursor = first["next"].split("cursor=")[1].split("&")[0]
    elsewhere = world.a.get(BIRTHDAYS, {"from": "2025-05-02", "days_ahead": 3, "cursor": cursor})
    assert elsewhere.status_code == 400 and elsewhere.json()["fields"].keys() == {"cursor"}
    nul = base64.urlsafe_b64encode(b'[">","2025-05-01","a\\u0000","",' + b'"' + str(uuid.uuid4()).encode() + b'"]')
    response = world.a.get(BIRTHDAYS, {"from": "2025-05-01", "days_ahead": 0, "cursor": nul.decode()})
    assert response.status_code == 400 and response.json()["fields"].keys() == {"cursor"}
    # An empty cursor is the first page, as on the lists.
    assert (
        world.a.get(BIRTHDAYS, {"from": "2025-05-01", "days_ahead": 0, "cursor": ""}).json()["results"]
        == (world.a.get(BIRTHDAYS, {"from": "2025-05-01", "days_ahead": 0}).json()["results"])
    )
    too_big = world.a.get(BIRTHDAYS, {"page_size": 501})
    assert too_big.status_code == 400 and too_big.json()["fields"].keys() == {"page_size"}


# --- duplicates and merge ------------------------------------------------------------------


def test_duplicates_and_merge(world, pair):
    a, b = pair
    twin = make(world.tenant_a, first_name="", last_name="", email="AMY@example.com".lower(), notes="from square")
    groups = world.a.get(f"{URL}duplicates/").json()
    assert groups["count"] == 1 and {c["id"] for c in groups["groups"][0]["clients"]} == {str(a.id), str(twin.id)}
    assert groups["groups"][0]["reasons"] == ["email"]
    assert world.b.get(f"{URL}duplicates/").json()["count"] == 0, "B's client shares the email, but not the tenant"

    merged = world.a.post(f"{URL}merge/", {"source": str(twin.id), "target": str(a.id)})
    assert merged.status_code == 200, merged.json()
    assert merged.json()["client"]["id"] == str(a.id) and merged.json()["client"]["notes"] == "from square"
    assert world.a.get(detail(twin.id)).status_code == 404


def test_merge_with_another_tenants_ids_is_404(world, pair):
    a, b = pair
    other_a = make(world.tenant_a)
    url = f"{URL}merge/"
    assert world.b.post(url, {"source": str(a.id), "target": str(b.id)}).status_code == 404
    assert world.b.post(url, {"source": str(b.id), "target": str(a.id)}).status_code == 404
    assert world.b.post(url, {"source": str(a.id), "target": str(other_a.id)}).status_code == 404
    assert world.a.post(url, {"source": str(a.id), "target": str(a.id)}).status_code == 400
    assert world.a.post(url, {"source": "x", "target": str(a.id)}).status_code == 400
    with tenant_context(world.tenant_a.id, role="system"):
        assert Client.objects.filter(id__in=[a.id, other_a.id]).count() == 2


# --- CSV import and export -----------------------------------------------------------------


def upload(api, content: bytes, name="clients.csv"):
    file = io.BytesIO(content)
    file.name = name
    return api.post(f"{URL}import/", {"file": file}, format="multipart")


def test_import_through_the_api_is_a_202_with_a_job(world, django_capture_on_commit_callbacks):
    # Enqueued after commit, by the task's name (services.IMPORT_TASK_NAME).
    with mock.patch("brandvx.celery.app.send_task") as send_task:
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(
                world.client(world.staff_a, world.tenant_a), b"\xef\xbb\xbfEmail,First Name\nAmy@Example.com,Amy\n"
            )
    assert response.status_code == 202, response.json()
    job_id = response.json()["job_id"]
    send_task.assert_called_once_with(services.IMPORT_TASK_NAME, args=(str(world.tenant_a.id), job_id), priority=0)
    with tenant_context(world.tenant_a.id, role="system"):
        job = BackgroundJob.objects.get(id=job_id)
        assert (job.kind, job.status, job.progress_total, job.params["filename"]) == (
            "clients.import_csv",
            "queued",
            1,
            "clients.csv",
        )
        assert ClientImport.objects.filter(job=job).exists()
    client_import_csv_task.run(str(world.tenant_a.id), job_id)  # what the worker does
    polled = world.a.get(f"/api/v1/jobs/{job_id}/").json()
    assert polled["status"] == "succeeded" and polled["counts"]["created"] == 1
    assert world.b.get(f"/api/v1/jobs/{job_id}/").status_code == 404


@pytest.mark.parametrize(
    "content, reason",
    [
        ("first_name\nJosé\n".encode("cp1252"), "not_utf8"),
        (b"", "no_header"),
        (b"colour,size\nred,7\n", "no_known_column"),
    ],
)
def test_import_refuses_bad_files_with_a_reason(world, content, reason):
    response = upload(world.a, content)
    assert response.status_code == 400
    assert response.json()["fields"].keys() == {"file"} and response.json()["reason"] == reason
    with tenant_context(world.tenant_a.id, role="system"):
        assert not BackgroundJob.objects.filter(kind="clients.import_csv").exists()


def test_import_refuses_a_file_over_the_limit_and_a_missing_file(world, settings):
    settings.CLIENTS_IMPORT_MAX_BYTES = 50
    response = upload(world.a, b"email\n" + b"amy@example.com\n" * 10)
    assert response.status_code == 400 and response.json()["reason"] == "too_large"
    missing = world.a.post(f"{URL}import/", {}, format="multipart")
    assert missing.status_code == 400 and missing.json()["fields"].keys() == {"file"}


def read_csv(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode("utf-8-sig")


def test_export_streams_the_filtered_list(world, settings, pair):
    settings.CLIENTS_EXPORT_CHUNK_ROWS = 2  # several chunks, several short transactions
    a, b = pair
    t = world.tenant_a
    others = [make(t, first_name=f"C{i}", last_name="=HYPERLINK(1)") for i in range(4)]
    tag(t, a, "VIP")
    response = world.client(world.viewer_a, t).get(f"{URL}export/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = read_csv(response).splitlines()
    assert lines[0].startswith("first_name,last_name,email,phone,birthday,tags")
    assert len(lines) == 1 + 1 + len(others)
    assert any(line.startswith("Amy,Lee,amy@example.com,+14155550123,--03-09,VIP,") for line in lines)
    assert all(",'=HYPERLINK(1)," in line for line in lines if line.startswith("C"))
    filtered = read_csv(world.a.get(f"{URL}export/", {"tag": "vip"})).splitlines()
    assert len(filtered) == 2 and str(a.id) in filtered[1]
    theirs = read_csv(world.b.get(f"{URL}export/"))
    assert str(b.id) in theirs and str(a.id) not in theirs and "Amy" not in theirs


def test_an_export_reimports_as_unchanged(world):
    make(
        world.tenant_a,
        first_name="Amy",
        last_name="Lee",
        email="amy@example.com",
        phone="+14155550123",
        birthday_month=3,
        birthday_day=9,
        birth_year=1990,
        email_consent=True,
    )
    exported = read_csv(world.a.get(f"{URL}export/")).encode()
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        from clients.services import client_import_csv_start

        job = client_import_csv_start(tenant=world.tenant_a, data=exported)
    client_import_csv_task.run(str(world.tenant_a.id), str(job.id))
    with tenant_context(world.tenant_a.id, role="system"):
        job.refresh_from_db()
    assert job.counts == {"created": 0, "updated": 0, "unchanged": 1, "skipped": 0, "failed": 0}, job.errors


def test_the_list_makes_no_query_per_client(world):
    from tenants.testing import capture_statements

    def statements_for_list():
        with capture_statements() as log:
            assert world.a.get(URL).status_code == 200
        return len(log.statements)

    first = make(world.tenant_a)
    tag(world.tenant_a, first, "vip")
    few = statements_for_list()
    for i in range(6):
        client = make(world.tenant_a, first_name=f"C{i}")
        tag(world.tenant_a, client, f"t{i}")
    assert statements_for_list() == few
