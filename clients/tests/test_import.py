"""The CSV import, run the way a worker runs it (the task function, called directly)."""

import datetime
from unittest import mock

import pytest

from clients import services
from clients.csv_format import CsvRejected
from clients.models import Client, ClientExternalId, ClientImport, ClientTag, ConsentEvent
from clients.normalize import contact_hash
from clients.tasks import client_import_csv_task
from clients.tests.factories import ClientFactory
from tenants import jobs
from tenants.context import tenant_context
from tenants.models import BackgroundJob

pytestmark = pytest.mark.django_db


def start(tenant, content, filename="clients.csv"):
    data = content.encode() if isinstance(content, str) else content
    with tenant_context(tenant.id, role="owner_admin"):
        return services.client_import_csv_start(tenant=tenant, data=data, filename=filename)


def run_import(tenant, content, filename="clients.csv") -> BackgroundJob:
    job = start(tenant, content, filename)
    client_import_csv_task.run(str(tenant.id), str(job.id))
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.get(id=job.id)


def clients_of(tenant):
    with tenant_context(tenant.id, role="system"):
        return list(Client.objects.order_by("first_name"))


MIXED = (
    "First Name,Last Name,E-mail,Mobile,Date of Birth,Tags,Notes,Email Consent,Customer ID,Favourite colour\n"
    "Amy,Lee,Amy@Example.com ,(415) 555-0123,1990-07-04,VIP; Color,Likes tea,yes,C-1,blue\n"
    "Bad,Email,not-an-email,,,,,,C-2,\n"
    ",,,,,,,,,\n"
    "Cara,Diaz,cara@example.com,,02-30,,,,C-3,\n"
    "Dee,Ng,dee@example.com,12,,,,,C-4,\n"
    'Eve,Ito,eve@example.com,,--12-31,"Bridal, VIP",,maybe,C-5,\n'
    "Fay,Ko,fay@example.com,+44 7911 123456,7/4/1985,,,no,C-6,\n"
)


def test_a_bad_optional_field_is_dropped_and_the_row_kept(world):
    job = run_import(world.tenant_a, MIXED)
    assert job.status == "succeeded" and job.progress_done == job.progress_total == 7
    assert job.counts == {"created": 6, "updated": 0, "unchanged": 0, "skipped": 1, "failed": 0, "fields_dropped": 4}
    assert [(e["row"], e["field"], e["kind"]) for e in job.errors] == [
        (3, "email", "field_dropped"),
        (5, "birthday", "field_dropped"),
        (6, "phone", "field_dropped"),
        (7, "email_consent", "field_dropped"),
    ]
    assert "not-an-email" in job.errors[0]["reason"] and "'12'" in job.errors[2]["reason"]
    assert job.params["ignored_columns"] == ["Favourite colour"]
    amy, bad, cara, dee, eve, fay = clients_of(world.tenant_a)
    # Each kept without (only) the field it could not read.
    assert (bad.first_name, bad.last_name, bad.email) == ("Bad", "Email", "")
    assert (cara.email, cara.birthday_month) == ("cara@example.com", None)
    assert (dee.email, dee.phone) == ("dee@example.com", "")
    assert (eve.birthday_month, eve.birthday_day, eve.email_consent_at) == (12, 31, None)
    assert (amy.email, amy.phone, amy.source) == ("amy@example.com", "+14155550123", "csv")
    assert (amy.birthday_month, amy.birthday_day, amy.birth_year, amy.notes) == (7, 4, 1990, "Likes tea")
    assert amy.email_consent and amy.email_consent_at is not None
    assert (fay.phone, fay.birthday_month, fay.birthday_day, fay.birth_year) == ("+447911123456", 7, 4, 1985)
    # A "no" in a file is a decision, recorded as a withdrawal (a blank cell says nothing).
    assert not fay.email_consent and fay.email_consent_at is not None
    with tenant_context(world.tenant_a.id, role="system"):
        assert sorted(ClientTag.objects.filter(client=amy).values_list("tag__name", flat=True)) == ["Color", "VIP"]
        assert ClientExternalId.objects.get(external_id="C-1").client_id == amy.id
        assert not ClientImport.objects.filter(job_id=job.id).exists(), "the file is deleted once imported"


def test_reimport_of_the_same_file_creates_nothing_new(world):
    run_import(world.tenant_a, MIXED)
    before = {c.id: c.updated_at for c in clients_of(world.tenant_a)}
    job = run_import(world.tenant_a, MIXED)
    assert job.counts == {"created": 0, "updated": 0, "unchanged": 6, "skipped": 1, "failed": 0, "fields_dropped": 4}
    assert {c.id: c.updated_at for c in clients_of(world.tenant_a)} == before
    with tenant_context(world.tenant_a.id, role="system"):
        assert ClientTag.objects.count() == 4 and ClientExternalId.objects.count() == 6


def test_email_matches_across_case_and_spaces(world):
    t = world.tenant_a
    with tenant_context(t.id, role="system"):
        existing = ClientFactory(tenant=t, first_name="Amy", last_name="", email="amy@example.com")
    job = run_import(t, "email,last name,birthday\nAmy@Example.com ,Lee,06-01\n")
    assert job.counts["updated"] == 1 and job.counts["created"] == 0
    [amy] = clients_of(t)
    assert amy.id == existing.id and amy.last_name == "Lee" and (amy.birthday_month, amy.birthday_day) == (6, 1)


def test_a_phone_in_three_formats_is_one_client(world):
    content = "name,phone\nAmy Lee,(415) 555-0123\nAmy Lee,415.555.0123\nAmy Lee,+1 415 555 0123\n"
    job = run_import(world.tenant_a, content)
    assert job.counts == {"created": 1, "updated": 0, "unchanged": 2, "skipped": 0, "failed": 0}
    [amy] = clients_of(world.tenant_a)
    assert (amy.first_name, amy.last_name, amy.phone, amy.phone_hash) == (
        "Amy",
        "Lee",
        "+14155550123",
        contact_hash("+14155550123"),
    )


def test_external_id_is_matched_first(world):
    t = world.tenant_a
    run_import(t, "id,first name,email\nX-9,Amy,amy@old.test\n")
    job = run_import(t, "ID,first name,email\nX-9,Amy,amy@new.test\n")
    assert job.counts["updated"] == 1
    [amy] = clients_of(t)
    assert amy.email == "amy@new.test"


def test_consent_change_from_a_file_is_recorded(world):
    t = world.tenant_a
    instant = datetime.datetime(2025, 1, 2, 3, 4, tzinfo=datetime.UTC)
    run_import(t, "email,sms_consent\namy@example.com,\n")
    with mock.patch("django.utils.timezone.now", return_value=instant):
        job = run_import(t, "email,SMS Consent\namy@example.com,TRUE\n")
    assert job.counts["updated"] == 1
    [amy] = clients_of(t)
    assert amy.sms_consent and amy.sms_consent_at == instant
    with tenant_context(t.id, role="system"):
        [event] = ConsentEvent.objects.filter(client_id=amy.id)
    assert (event.channel, event.granted, event.origin, event.decided_at) == ("sms", True, "csv_import", instant)


def test_a_reimported_old_opt_in_does_not_undo_a_withdrawal(world):
    """The file still says yes; the client has since said no in the app: no stays."""
    t = world.tenant_a
    old_file = "email,email_consent,sms_consent\namy@example.com,yes,yes\n"
    run_import(t, old_file)
    [amy] = clients_of(t)
    assert amy.email_consent and amy.sms_consent
    with tenant_context(t.id, role="staff"):
        services.client_update(tenant=t, client_id=amy.id, data={"email_consent": False})

    job = run_import(t, old_file)

    assert job.counts["unchanged"] == 1, job.counts
    [amy] = clients_of(t)
    assert not amy.email_consent and amy.sms_consent
    # Only a newer explicit grant re-grants.
    with tenant_context(t.id, role="staff"):
        services.client_update(tenant=t, client_id=amy.id, data={"email_consent": True})
    [amy] = clients_of(t)
    assert amy.email_consent


def test_notes_from_a_file_never_overwrite_notes_typed_in_the_app(world):
    t = world.tenant_a
    with tenant_context(t.id, role="system"):
        ClientFactory(tenant=t, email="amy@example.com", notes="Patch test first.")
    run_import(t, "email,notes\namy@example.com,Prefers mornings\n")
    run_import(t, "email,notes\namy@example.com,Prefers mornings\n")
    [amy] = clients_of(t)
    assert amy.notes == "Patch test first.\n\nPrefers mornings"


def test_bom_semicolons_and_crlf_are_read(world):
    content = "\ufeffVorname;Given Name;E-Mail-Adresse;Tags\r\nx;Amy;amy@example.com;a,b\r\n".encode()
    job = run_import(world.tenant_a, content)
    assert job.counts["created"] == 1, job.errors
    assert job.params["ignored_columns"] == ["Vorname", "E-Mail-Adresse"]
    [amy] = clients_of(world.tenant_a)
    assert amy.first_name == "Amy" and amy.email == ""


def test_batches_commit_progress_and_a_redelivered_task_resumes(world, settings):
    settings.CLIENTS_IMPORT_BATCH_ROWS = 2
    t = world.tenant_a
    content = "email\n" + "".join(f"c{i}@example.com\n" for i in range(5))
    job = start(t, content)
    with tenant_context(t.id, role="system"):
        jobs.job_start(job_id=job.id)
        jobs.job_advance(job_id=job.id, done=2, counts={"created": 2})  # a first delivery got this far
    client_import_csv_task.run(str(t.id), str(job.id))
    with tenant_context(t.id, role="system"):
        job.refresh_from_db()
    assert job.status == "succeeded" and job.progress_done == 5 and job.counts["created"] == 5
    assert sorted(c.email for c in clients_of(t)) == [f"c{i}@example.com" for i in range(2, 5)]


def test_a_canceled_job_imports_nothing_and_a_finished_one_is_not_rerun(world):
    t = world.tenant_a
    job = start(t, "email\namy@example.com\n")
    with tenant_context(t.id, role="owner_admin"):
        jobs.job_cancel(job_id=job.id)
    client_import_csv_task.run(str(t.id), str(job.id))
    assert clients_of(t) == []
    done = run_import(t, "email\nbea@example.com\n")
    client_import_csv_task.run(str(t.id), str(done.id))  # redelivered after it finished
    assert len(clients_of(t)) == 1


@pytest.mark.parametrize(
    "content, reason",
    [
        ("first_name,email\nJosé,jose@example.com\n".encode("latin-1"), "not_utf8"),
        (b"", "no_header"),
        (b"\n\n", "no_header"),
        (b"colour,shoe size\nblue,7\n", "no_known_column"),
        (b"first_name\n", "no_rows"),
        (b"first_name\x00,email\nA,b\n", "not_csv"),
    ],
)
def test_unreadable_files_are_refused_up_front(world, content, reason):
    with pytest.raises(CsvRejected) as caught:
        start(world.tenant_a, content)
    assert caught.value.fields.keys() == {"file"} and caught.value.extra == {"reason": reason}
    with tenant_context(world.tenant_a.id, role="system"):
        assert not BackgroundJob.objects.exists() and not ClientImport.objects.exists()


def test_size_and_row_limits(world, settings):
    settings.CLIENTS_IMPORT_MAX_BYTES = 100
    with pytest.raises(CsvRejected) as caught:
        start(world.tenant_a, "email\n" + "a@example.com\n" * 10)
    assert caught.value.extra["reason"] == "too_large"
    settings.CLIENTS_IMPORT_MAX_BYTES = 10_000
    settings.CLIENTS_IMPORT_MAX_ROWS = 3
    with pytest.raises(CsvRejected) as caught:
        start(world.tenant_a, "email\n" + "a@example.com\n" * 4)
    assert caught.value.extra["reason"] == "too_many_rows"
    assert start(world.tenant_a, "email\n" + "a@example.com\n" * 3).progress_total == 3


def test_an_import_stays_in_its_tenant(world):
    t_b = world.tenant_b
    with tenant_context(t_b.id, role="system"):
        theirs = ClientFactory(tenant=t_b, email="amy@example.com")
    run_import(world.tenant_a, "email,first name\namy@example.com,Amy\n")
    [mine] = clients_of(world.tenant_a)
    assert mine.id != theirs.id
    with tenant_context(t_b.id, role="system"):
        assert Client.objects.get(id=theirs.id).first_name == theirs.first_name


def test_a_row_with_nothing_left_to_identify_it_fails_as_a_whole(world):
    job = run_import(world.tenant_a, "email,phone,birthday\nnot-an-email,12,1990-01-01\n,555-1234 ext. 9,\n")
    assert job.counts["failed"] == 2 and job.counts["created"] == 0
    assert [(e["row"], e["field"]) for e in job.errors] == [(2, "email"), (3, "phone")]
    assert "Nothing else tells who the row is" in job.errors[0]["reason"]
    assert clients_of(world.tenant_a) == []


def test_a_phone_extension_is_kept(world):
    job = run_import(world.tenant_a, "name,phone\nAmy Lee,+1 415 555 0123 ext. 42\n")
    assert job.counts["created"] == 1
    [amy] = clients_of(world.tenant_a)
    assert (amy.phone, amy.phone_extension) == ("+14155550123", "42")


def test_accents_survive_the_import(world):
    job = run_import(world.tenant_a, "name,email\nJosé Núñez,jose@example.com\n")
    assert job.counts["created"] == 1
    [jose] = clients_of(world.tenant_a)
    assert (jose.first_name, jose.last_name) == ("José", "Núñez")
