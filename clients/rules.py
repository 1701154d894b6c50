"""The rules and figures of clients, each written once: the serializers, the CSV format, the
views, the services and the tests read them from here (the column lengths and the display name
are the model's: clients.models).

Pure: no database, no tenant. What other apps need of them (the birthday window, the import
outcomes) is public here.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import models

from clients.models import TAG_NAME_MAX_LENGTH, Client, Source

if TYPE_CHECKING:
    from clients.records import ContactRecord

# --- the birthday window -----------------------------------------------------------------
# The most days after the first day a birthday window may reach (a year, a leap day
# included): the client birthdays endpoint and the birthday campaigns.
BIRTHDAYS_MAX_DAYS_AHEAD = 366
BIRTHDAYS_DEFAULT_DAYS_AHEAD = 7


class ImportOutcome(models.TextChoices):
    """What an import did with one record: the counts of a CSV import's job and of a provider
    sync's pages, and `clients.services.client_upsert`'s answer (created, updated, unchanged)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # nothing in it (a blank row)
    FAILED = "failed"


def identifies_someone(
    *, first_name: str | None, last_name: str | None, email: str | None, phone: str | None, external_id: str = ""
) -> bool:
    """Whether anything is left to tell who a record is (a name, an email, a phone, or the
    source's own id): a record without it fails as a whole."""
    return bool(first_name or last_name or email or phone or external_id)


def clean_tag_name(name: str) -> str:
    """A tag's name as stored (spaces collapsed); ValueError naming the rule it breaks."""
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValueError("A tag needs a name.")
    if len(cleaned) > TAG_NAME_MAX_LENGTH:
        raise ValueError(f"At most {TAG_NAME_MAX_LENGTH} characters.")
    if "/" in cleaned:
        raise ValueError("A tag name cannot contain '/' (it is part of the tag's URL).")
    return cleaned


# --- birthdays ----------------------------------------------------------------------------


def celebration_date(month: int, day: int, year: int) -> datetime.date:
    """Feb 29 birthdays are celebrated on Feb 28 in common years."""
    if month == 2 and day == 29 and not calendar.isleap(year):
        return datetime.date(year, 2, 28)
    return datetime.date(year, month, day)


def next_birthday(month: int, day: int, on_or_after: datetime.date) -> datetime.date:
    this_year = celebration_date(month, day, on_or_after.year)
    return this_year if this_year >= on_or_after else celebration_date(month, day, on_or_after.year + 1)


# --- imports: which profile owns a client, and what a record changes -----------------------


def _profile_key(external_id: str, created_at: datetime.datetime | None) -> tuple[bool, datetime.datetime, str]:
    # Oldest first; a profile whose creation time we do not know after every dated one; then
    # the smallest id: the same answer on every run, whatever order the provider lists them in.
    return (created_at is None, created_at or datetime.datetime.min.replace(tzinfo=datetime.UTC), external_id)


def owning_profile(profiles: Mapping[str, datetime.datetime | None]) -> str:
    """The external id that owns a client among its profiles of one provider
    ({external id: the provider's created_at}): the oldest, then the smallest id."""
    return min(profiles.items(), key=lambda item: _profile_key(*item))[0] if profiles else ""


def client_upsert_changes(
    client: Client,
    record: ContactRecord,
    *,
    source: str,
    profile_owner: bool = True,
) -> dict[str, Any]:
    """The fields `record` changes on `client`: the one rule for every import.

    - The source that created a client keeps it current (its values win); a CSV upload is the
      business's own word and always wins. Another source only fills blanks, so two providers
      that disagree do not flip a field every sync.
    - Of several profiles of one source linked to one client (two Square customers with one
      email), only the owner (`profile_owner`: the oldest, see owning_profile) keeps it
      current; the others only fill blanks, so they do not overwrite each other on every sync.
    - A blank or missing value never erases what we have.
    - A record without a birth year keeps the year we know for the same birthday.
    - A note is added once, below what is there (notes typed in the app are never replaced),
      by the owning source, or by any source when the client has none.
    """
    owns = client._state.adding or source == Source.CSV or (client.source == source and profile_owner)
    changes: dict[str, Any] = {}
    for name in ("first_name", "last_name", "email", "phone", "phone_extension"):
        value = getattr(record, name)
        current = getattr(client, name)
        if value not in (None, "") and value != current and (owns or not current):
            changes[name] = value
    if record.birthday is not None and (owns or client.birthday_month is None):
        month, day, year = record.birthday
        if year is None and (client.birthday_month, client.birthday_day) == (month, day):
            year = client.birth_year
        if (client.birthday_month, client.birthday_day, client.birth_year) != (month, day, year):
            changes.update(birthday_month=month, birthday_day=day, birth_year=year)
    notes = (record.notes or "").strip()
    if notes and notes not in client.notes and (owns or not client.notes.strip()):
        changes["notes"] = f"{client.notes.rstrip()}\n\n{notes}" if client.notes.strip() else notes
    return changes


def consent_allows(client: Client, channel: str) -> bool:
    """May we send marketing to the client on `channel`? The one question sending asks: the
    client's derived consent field (kept by clients.consent from the ledger) is a grant."""
    return getattr(client, f"{channel}_consent") is True
