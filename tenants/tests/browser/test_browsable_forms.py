"""The browsable API's forms in chromium, used as a person uses them (issue 23): a client with
a birthday created and edited through the HTML form, a refused form that keeps what was typed,
the "Raw data" pre-fill sent as shown, the Filters pop-up, the way in (`/` -> API root -> a
list -> a row's link), the CSV import page's file field, and the pages for a user without a
membership and for an expired sign-in."""

from __future__ import annotations

import time

import jwt
import pytest
from django.conf import settings
from playwright.sync_api import expect

from clients.models import Client
from conftest import TenantWorld
from tenants.context import tenant_context
from tenants.models import User
from tenants.testing import token_for

pytestmark = pytest.mark.browser


def _sign_in(page, live_server, user, next_url: str) -> None:
    page.goto(f"/api-auth/login/?next={next_url}")
    page.get_by_label("Supabase access token").fill(token_for(user, minutes=15))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}{next_url}")


def _clients(tenant, **filters) -> list[Client]:
    with tenant_context(tenant.id, role="system"):
        return list(Client.objects.filter(**filters))


def _fill_client_form(form, values: dict) -> None:
    """Every field the form renders, as a person would: text typed in, the source picked from
    its list, the consent boxes ticked or not."""
    for name, value in values.items():
        field = form.locator(f"[name={name}]")
        kind = field.evaluate("el => el.tagName.toLowerCase() + ':' + (el.type || '')")
        if kind.startswith("select"):
            field.select_option(value)
        elif kind == "input:checkbox":
            field.set_checked(bool(value))
        else:
            field.fill(str(value))


def test_a_client_with_a_birthday_is_created_and_edited_through_the_html_form(page, live_server, shot):
    world = TenantWorld()
    _sign_in(page, live_server, world.owner_a, "/api/v1/clients/")
    form = page.locator("#post-object-form")
    rendered = set(form.locator("[name]").evaluate_all("els => els.map(el => el.name)")) - {"csrfmiddlewaretoken"}
    values = {
        "first_name": "Rosa",
        "last_name": "Parks",
        "email": "rosa@example.test",
        "phone": "+1 415 555 0100",
        "birthday_month": "3",
        "birthday_day": "14",
        "birth_year": "1965",
        "birthday": "1965-03-14",
        "notes": "Prefers mornings.",
        "source": "csv",
        "email_consent": True,
        "sms_consent": False,
    }
    assert rendered == set(values), rendered  # the test fills every field the form shows
    _fill_client_form(form, values)
    shot(page, "filled")
    form.locator("button", has_text="POST").click()
    expect(page.locator(".response-info")).to_contain_text("HTTP 201 Created")
    shot(page, "created")
    (rosa,) = _clients(world.tenant_a, first_name="Rosa")
    assert (rosa.birth_year, rosa.birthday_month, rosa.birthday_day) == (1965, 3, 14)
    assert rosa.source == "csv" and rosa.email_consent is True and rosa.sms_consent is False

    # Only the month and day typed in, "Birthday" left blank: a birthday without a year.
    page.goto("/api/v1/clients/")
    _fill_client_form(
        page.locator("#post-object-form"), {"first_name": "Ines", "birthday_month": "7", "birthday_day": "2"}
    )
    page.locator("#post-object-form button", has_text="POST").click()
    expect(page.locator(".response-info")).to_contain_text("HTTP 201 Created")
    (ines,) = _clients(world.tenant_a, first_name="Ines")
    assert (ines.birth_year, ines.birthday_month, ines.birthday_day) == (None, 7, 2)

    # Only "Birthday" typed in.
    page.goto("/api/v1/clients/")
    _fill_client_form(page.locator("#post-object-form"), {"first_name": "Jo", "birthday": "--12-24"})
    page.locator("#post-object-form button", has_text="POST").click()
    expect(page.locator(".response-info")).to_contain_text("HTTP 201 Created")
    (jo,) = _clients(world.tenant_a, first_name="Jo")
    assert (jo.birth_year, jo.birthday_month, jo.birthday_day) == (None, 12, 24)

    # Edit Rosa: the PUT form shows her as she is; only the notes change.
    page.goto(f"/api/v1/clients/{rosa.id}/")
    put_form = page.locator("#put-object-form")
    expect(put_form.locator("[name=birthday]")).to_have_value("1965-03-14")
    expect(put_form.locator("[name=birthday_month]")).to_have_value("3")
    expect(put_form.locator("[name=email_consent]")).to_be_checked()
    put_form.locator("[name=notes]").fill("Prefers afternoons now.")
    shot(page, "editing")
    put_form.locator("button", has_text="PUT").click()
    expect(page.locator(".request-info")).to_contain_text("PUT")
    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")
    shot(page, "edited")
    (rosa,) = _clients(world.tenant_a, id=rosa.id)
    assert rosa.notes == "Prefers afternoons now."
    assert (rosa.birth_year, rosa.birthday_month, rosa.birthday_day) == (1965, 3, 14)
    assert rosa.email_consent is True and rosa.source == "csv"

    # The "Raw data" tab's pre-fill, sent as shown, is accepted (PATCH and PUT).
    page.goto(f"/api/v1/clients/{rosa.id}/")
    page.get_by_role("link", name="Raw data").last.click()
    raw = page.locator("#put-generic-content-form")
    content = raw.locator("textarea[name=_content]").input_value()
    assert '"birthday": "1965-03-14"' in content and '"birth_year": 1965' in content, content
    raw.locator("button", has_text="PATCH").click()
    expect(page.locator(".request-info")).to_contain_text("PATCH")
    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")
    page.goto("/api/v1/clients/")
    page.get_by_role("link", name="Raw data").last.click()
    post_raw = page.locator("#post-generic-content-form textarea[name=_content]").input_value()
    assert '"birthday"' not in post_raw and '"source": "manual"' in post_raw, post_raw


def test_a_refused_form_comes_back_with_what_was_typed_and_the_errors_beside_the_fields(page, live_server, shot):
    world = TenantWorld()
    _sign_in(page, live_server, world.owner_a, "/api/v1/clients/")
    form = page.locator("#post-object-form")
    _fill_client_form(
        form,
        {
            "first_name": "Lena",
            "email": "not-an-email",
            "birthday_month": "2",
            "birthday_day": "30",
            "notes": "Allergic to latex.",
            "source": "csv",
            "email_consent": True,
            "sms_consent": True,
        },
    )
    form.locator("button", has_text="POST").click()
    expect(page.locator(".response-info")).to_contain_text("HTTP 400 Bad Request")
    shot(page, "refused")
    form = page.locator("#post-object-form")
    expect(form.locator("[name=first_name]")).to_have_value("Lena")
    expect(form.locator("[name=email]")).to_have_value("not-an-email")
    expect(form.locator("[name=notes]")).to_have_value("Allergic to latex.")
    expect(form.locator("[name=source]")).to_have_value("csv")
    expect(form.locator("[name=email_consent]")).to_be_checked()
    expect(form.locator("[name=sms_consent]")).to_be_checked()
    # The field's own error, beside it.
    email_group = form.locator(".form-group").filter(has=page.locator("[name=email]"))
    expect(email_group.locator(".help-block")).not_to_have_count(0)
    assert _clients(world.tenant_a, first_name="Lena") == []

    # Corrected and sent again: saved with the consent that was ticked.
    form.locator("[name=email]").fill("lena@example.test")
    form.locator("[name=birthday_day]").fill("28")
    form.locator("button", has_text="POST").click()
    expect(page.locator(".response-info")).to_contain_text("HTTP 201 Created")
    (lena,) = _clients(world.tenant_a, first_name="Lena")
    assert lena.email_consent is True and lena.sms_consent is True and lena.source == "csv"
    assert (lena.birthday_month, lena.birthday_day) == (2, 28)


def test_the_filters_pop_up_sends_only_what_was_set_and_survives_an_error(page, live_server, shot):
    world = TenantWorld()
    with tenant_context(world.tenant_a.id, role="system"):
        Client.objects.create(tenant=world.tenant_a, first_name="Yes", email="yes@example.test", email_consent=True)
        Client.objects.create(tenant=world.tenant_a, first_name="Nobody", email="no@example.test")
    _sign_in(page, live_server, world.owner_a, "/api/v1/clients/")
    page.get_by_role("button", name="Filters").click()
    modal = page.locator("#filtersModal")
    expect(modal).to_be_visible()
    labels = modal.locator("label").all_inner_texts()
    assert labels and not any("invalid name" in label for label in labels), labels
    assert any(label.startswith("Search") for label in labels), labels
    shot(page, "filters")
    modal.locator("[name=email_consent]").select_option("true")
    modal.locator("#filter-form button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/api/v1/clients/?email_consent=true")
    content = page.locator(".response-info")
    expect(content).to_contain_text("HTTP 200 OK")
    expect(content).to_contain_text("yes@example.test")
    expect(content).not_to_contain_text("no@example.test")
    shot(page, "filtered")

    # A bad value: the page says why, and the Filters button is still there to correct it.
    page.goto("/api/v1/clients/?birthday_month=13")
    expect(page.locator(".response-info")).to_contain_text("HTTP 400 Bad Request")
    page.get_by_role("button", name="Filters").click()
    expect(page.locator("#filtersModal [name=birthday_month]")).to_have_value("13")
    month = page.locator("#filtersModal [name=birthday_month]")
    month.select_text()
    month.press_sequentially("4")
    page.locator("#filtersModal #filter-form button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/api/v1/clients/?birthday_month=4")
    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")
    shot(page, "recovered")


def test_the_import_page_describes_the_columns_and_uploads_a_file(page, live_server, shot, tmp_path):
    world = TenantWorld()
    _sign_in(page, live_server, world.owner_a, "/api/v1/clients/import/")
    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")
    expect(page.locator("#view-description")).to_contain_text("first_name")
    expect(page.locator("#view-description")).not_to_contain_text("IMPORT_DESCRIPTION")
    upload = page.locator("#post-object-form input[type=file][name=file]")
    expect(upload).to_be_visible()
    shot(page, "import-page")
    csv = tmp_path / "clients.csv"
    csv.write_text("First name,Email,Birthday\nMaya,maya@example.test,1990-05-06\n")
    upload.set_input_files(str(csv))
    page.locator("#post-object-form button", has_text="POST").click()
    expect(page.locator(".response-info")).to_contain_text("HTTP 202 Accepted")
    expect(page.locator(".response-info")).to_contain_text("job_id")
    shot(page, "imported")


def test_a_user_without_a_membership_is_told_what_to_do_and_can_sign_out(page, live_server, shot):
    loner = User.objects.create(username=f"loner-{time.time_ns()}", email="loner@example.test")
    _sign_in(page, live_server, loner, "/api/v1/me/")
    page.goto("/api/v1/clients/")
    notice = page.locator("#no-membership")
    expect(notice).to_contain_text("not a member of any business")
    expect(page.locator(".navbar")).to_contain_text("loner@example.test")
    shot(page, "no-membership")
    page.goto("/api-auth/tenant/")
    expect(page.locator("body")).not_to_contain_text("You belong to several businesses")
    expect(page.locator("#no-membership")).to_be_visible()
    page.goto("/api/v1/clients/")
    page.locator(".navbar .dropdown-toggle").click()
    page.get_by_role("link", name="Log out").click()
    expect(page.locator("#signed-out")).to_be_visible()


def test_an_expired_sign_in_says_so_and_links_to_the_sign_in(page, live_server, shot):
    world = TenantWorld()
    page.goto("/api-auth/login/?next=/api/v1/clients/")
    now = int(time.time())
    token = jwt.encode(
        {
            "sub": str(world.owner_a.id),
            "aud": settings.SUPABASE_JWT_AUDIENCE,
            "iat": now,
            "exp": now + 8,
            "email": world.owner_a.email,
            "role": "authenticated",
            **({"iss": settings.SUPABASE_JWT_ISSUER} if settings.SUPABASE_JWT_ISSUER else {}),
        },
        settings.SUPABASE_JWT_SECRET,
        algorithm="HS256",
    )
    page.get_by_label("Supabase access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/api/v1/clients/")
    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")
    time.sleep(max(0.0, now + 9 - time.time()))  # the token's expiry has passed
    page.goto("/api/v1/clients/")
    notice = page.locator("#session-expired")
    expect(notice).to_contain_text("Your sign-in expired")
    shot(page, "expired")
    notice.get_by_role("link", name="Sign in again").click()
    expect(page).to_have_url(f"{live_server.url}/api-auth/login/?next=/api/v1/clients/")


def test_the_way_in_leads_from_the_root_to_a_list_and_a_row_to_its_detail(page, live_server, shot):
    world = TenantWorld()
    with tenant_context(world.tenant_a.id, role="system"):
        alma = Client.objects.create(tenant=world.tenant_a, first_name="Alma", email="alma@example.test")
    _sign_in(page, live_server, world.owner_a, "/api/v1/me/")
    page.goto("/")
    expect(page).to_have_url(f"{live_server.url}/api/v1/")
    content = page.locator(".response-info")
    expect(content).to_contain_text("HTTP 200 OK")
    for name in ("clients", "transactions", "docs", "redoc"):
        expect(content).to_contain_text(f'"{name}"')
    shot(page, "root")
    content.get_by_role("link", name=f"{live_server.url}/api/v1/clients/", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/api/v1/clients/")
    detail = f"{live_server.url}/api/v1/clients/{alma.id}/"
    page.locator(".response-info").get_by_role("link", name=detail, exact=True).click()
    expect(page).to_have_url(detail)
    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")
    expect(page.locator(".response-info")).to_contain_text("alma@example.test")
    shot(page, "detail")
    page.get_by_role("link", name="BrandVX API").first.click()
    expect(page).to_have_url(f"{live_server.url}/api/v1/")
