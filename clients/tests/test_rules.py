"""The rules of clients, each with one owner: the places that apply a rule read it from there."""

import datetime

import pytest

from clients import csv_format
from clients.api.serializers import ClientWriteSerializer, TagNameSerializer
from clients.models import NAME_MAX_LENGTH, TAG_NAME_MAX_LENGTH, Client, Tag, display_name_of
from clients.records import ContactRecord
from clients.rules import ImportOutcome, clean_tag_name, identifies_someone, owning_profile

UTC = datetime.UTC


def test_the_lengths_are_the_models_everywhere():
    assert Tag._meta.get_field("name").max_length == TAG_NAME_MAX_LENGTH
    assert TagNameSerializer().fields["name"].max_length == TAG_NAME_MAX_LENGTH
    assert csv_format.TAG_MAX_LENGTH == TAG_NAME_MAX_LENGTH
    for name in ("first_name", "last_name"):
        assert Client._meta.get_field(name).max_length == NAME_MAX_LENGTH
        assert ClientWriteSerializer().fields[name].max_length == NAME_MAX_LENGTH
        assert csv_format.MAX_LENGTHS[name] == NAME_MAX_LENGTH


def test_a_tag_name_is_cleaned_or_refused_by_one_rule():
    assert clean_tag_name("  V   I P ") == "V I P"
    assert clean_tag_name("x" * TAG_NAME_MAX_LENGTH) == "x" * TAG_NAME_MAX_LENGTH
    for bad in ("", "   ", "a/b", "x" * (TAG_NAME_MAX_LENGTH + 1)):
        with pytest.raises(ValueError):
            clean_tag_name(bad)
    with pytest.raises(csv_format.RowInvalid):
        csv_format.split_tags("x" * (TAG_NAME_MAX_LENGTH + 1))


def test_the_display_name_falls_back_to_the_email_then_the_phone():
    assert display_name_of("Amy", "Lee", "amy@example.com", "+14155550123") == "Amy Lee"
    assert display_name_of("", "", "amy@example.com", "+14155550123") == "amy@example.com"
    assert display_name_of("", "", "", "+14155550123") == "+14155550123"
    assert display_name_of("", "", "", "") == "(no name)"
    assert Client(first_name="", last_name="", email="", phone="+14155550123").display_name == "+14155550123"


def test_what_identifies_someone_is_one_rule_for_records_and_csv_rows():
    assert not identifies_someone(first_name=None, last_name="", email=None, phone=None)
    assert identifies_someone(first_name=None, last_name=None, email=None, phone=None, external_id="SQ-1")
    assert ContactRecord(phone="+14155550123").identifies_someone
    assert not ContactRecord().identifies_someone
    layout = csv_format.read_layout("email,tags\n")
    with pytest.raises(csv_format.RowInvalid):
        csv_format.clean_row(["not-an-email", "vip"], layout, country="US")


def test_the_owning_profile_is_the_oldest_then_the_smallest_id():
    early, late = datetime.datetime(2024, 1, 1, tzinfo=UTC), datetime.datetime(2025, 1, 1, tzinfo=UTC)
    assert owning_profile({}) == ""
    assert owning_profile({"B": early, "A": late}) == "B"
    assert owning_profile({"B": early, "A": early}) == "A"
    assert owning_profile({"A": None, "B": late}) == "B"  # an undated profile comes after every dated one


def test_import_outcomes_are_the_job_counts():
    from clients.imports import IMPORT_OUTCOMES

    assert IMPORT_OUTCOMES == ("created", "updated", "unchanged", "skipped", "failed")
    assert [str(outcome) for outcome in ImportOutcome] == list(IMPORT_OUTCOMES)
