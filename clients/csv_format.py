"""The client CSV format: header aliases, the up-front checks on an upload, and one row read
into clean values. Pure functions: writing is in services.py.

Header names are matched case-insensitively, ignoring spaces, underscores and hyphens
(`First Name`, `first_name` and `first-name` are one column). Recognized columns and their
aliases are in COLUMN_ALIASES; other columns are ignored (and listed in the job's params).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from clients.models import EXTERNAL_ID_MAX_LENGTH, NAME_MAX_LENGTH, NOTES_MAX_LENGTH, TAG_NAME_MAX_LENGTH
from clients.normalize import contact_hash, normalize_email, parse_birthday, split_phone
from clients.records import FieldDropped
from clients.rules import identifies_someone
from common.errors import InvalidInput

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "given name", "first"),
    "last_name": ("last name", "lastname", "surname", "family name", "last"),
    "name": ("name", "full name", "client name", "customer name"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail"),
    "phone": (
        "phone",
        "mobile",
        "phone number",
        "mobile phone",
        "mobile number",
        "cell",
        "cell phone",
        "telephone",
        "tel",
    ),
    "birthday": ("birthday", "birthdate", "birth date", "date of birth", "dob"),
    "tags": ("tags", "tag", "labels"),
    "notes": ("notes", "note", "comments"),
    "external_id": ("external id", "id", "client id", "customer id", "reference id"),
    "email_consent": ("email consent", "email opt in", "email marketing", "accepts email marketing"),
    "sms_consent": ("sms consent", "sms opt in", "sms marketing", "text consent", "accepts sms marketing"),
}
# Columns that can tell who a row is; a file with none of them cannot be imported.
IDENTIFYING = {"first_name", "last_name", "name", "email", "phone", "external_id"}

TRUE_WORDS = {"yes", "y", "true", "t", "1", "on", "subscribed", "opted in"}
FALSE_WORDS = {"no", "n", "false", "f", "0", "off", "unsubscribed", "opted out"}
MAX_LENGTHS = {
    "first_name": NAME_MAX_LENGTH,
    "last_name": NAME_MAX_LENGTH,
    "notes": NOTES_MAX_LENGTH,
    "external_id": EXTERNAL_ID_MAX_LENGTH,
}
TAG_MAX_LENGTH = TAG_NAME_MAX_LENGTH


def header_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


_ALIAS_INDEX = {header_key(alias): column for column, aliases in COLUMN_ALIASES.items() for alias in (column, *aliases)}


class CsvRejected(InvalidInput):
    """The upload as a whole is refused: 400 naming the parameter `file`, with a stable `reason`."""

    def __init__(self, reason: str, detail: str):
        super().__init__("file", detail)
        self.extra["reason"] = reason


@dataclass(frozen=True)
class CsvLayout:
    delimiter: str
    columns: dict[str, int]  # our field -> index of its column
    ignored: list[str] = field(default_factory=list)  # header names we do not know


def decode_upload(data: bytes) -> str:
    """UTF-8 text of an upload; a UTF-8 byte order mark (Excel adds one) is dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvRejected(
            "not_utf8", f"The file is not UTF-8 text (invalid byte at position {exc.start}); save it as 'CSV UTF-8'."
        ) from None


def _reader(text: str, delimiter: str) -> Iterator[list[str]]:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def read_layout(text: str) -> CsvLayout:
    """Find the delimiter and map the header row to our fields; refuse files we cannot read."""
    if "\x00" in text:
        raise CsvRejected("not_csv", "The file contains NUL bytes: it is not a CSV text file.")
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    if not first_line.strip():
        raise CsvRejected("no_header", "The file is empty: the first line must be a header row.")
    try:
        delimiter = csv.Sniffer().sniff(first_line, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        header = next(_reader(text.lstrip("\r\n"), delimiter))
    except (csv.Error, StopIteration):
        raise CsvRejected("no_header", "The first line is not a readable CSV header row.") from None
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, name in enumerate(header):
        column = _ALIAS_INDEX.get(header_key(name))
        if column is None or column in columns:
            if name.strip():
                ignored.append(name.strip())
            continue
        columns[column] = index
    if not columns.keys() & IDENTIFYING:
        known = ", ".join(sorted(COLUMN_ALIASES))
        raise CsvRejected(
            "no_known_column",
            f"The header row has no column naming a client (found: {', '.join(h.strip() for h in header)[:200]}); "
            f"expected columns such as {known}.",
        )
    return CsvLayout(delimiter=delimiter, columns=columns, ignored=ignored)


def iter_records(text: str, layout: CsvLayout) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of every data row. Row numbers count the header as row 1, as a
    spreadsheet shows them. Raises CsvRejected on a malformed line."""
    reader = _reader(text.lstrip("\r\n"), layout.delimiter)
    row_number = 1
    try:
        next(reader)
        for cells in reader:
            row_number += 1
            yield row_number, cells
    except csv.Error as exc:
        raise CsvRejected("malformed", f"Row {row_number + 1} is not valid CSV ({exc}).") from None


def count_records(text: str, layout: CsvLayout, *, max_rows: int) -> int:
    count = 0
    for _number, _cells in iter_records(text, layout):
        count += 1
        if count > max_rows:
            raise CsvRejected("too_many_rows", f"The file has more than {max_rows} rows; split it into smaller files.")
    return count


# --- one row -----------------------------------------------------------------------------


class RowInvalid(Exception):
    def __init__(self, field_name: str, reason: str):
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass
class ImportRow:
    """One CSV row, cleaned. None means "the row does not say" (the client keeps its value)."""

    external_id: str = ""
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    email_hash: str = ""
    phone: str | None = None
    phone_extension: str | None = None
    phone_hash: str = ""
    birthday: tuple[int, int, int | None] | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    email_consent: bool | None = None
    sms_consent: bool | None = None
    # Optional fields that could not be read: the row is imported without them (FieldDropped).
    dropped: list[FieldDropped] = field(default_factory=list)


def parse_consent(value: str, field_name: str) -> bool | None:
    word = value.strip().lower()
    if not word:
        return None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise RowInvalid(field_name, f"{value.strip()!r} is not yes/no, true/false or 1/0.")


_SLASH_DATE_RE = re.compile(r"^(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.](?P<year>\d{4})$")


def parse_csv_birthday(value: str, *, country: str) -> tuple[int, int, int | None] | None:
    """ISO dates and MM-DD (see normalize.parse_birthday), plus the spreadsheet forms
    M/D/YYYY (United States) or D/M/YYYY and D.M.YYYY (elsewhere), by the tenant's country."""
    raw = value.strip()
    if not raw:
        return None
    match = _SLASH_DATE_RE.match(raw)
    if match:
        a, b = int(match["a"]), int(match["b"])
        month, day = (a, b) if country.upper() in ("US", "PH", "FM", "PW", "MH") else (b, a)
        raw = f"{match['year']}-{month:02d}-{day:02d}"
    try:
        birth_month, birth_day, year = parse_birthday(raw)
    except ValidationError as exc:
        raise RowInvalid("birthday", exc.messages[0]) from None
    # Both are set for a value that is not blank (parse_birthday's None is for a blank).
    return (birth_month, birth_day, year) if birth_month is not None and birth_day is not None else None


def split_tags(value: str) -> list[str]:
    names: list[str] = []
    for part in re.split(r"[;,]", value):
        name = " ".join(part.split())
        if not name:
            continue
        if len(name) > TAG_MAX_LENGTH or "/" in name:
            raise RowInvalid("tags", f"{name[:60]!r}: a tag has at most {TAG_MAX_LENGTH} characters and no '/'.")
        if name.lower() not in {n.lower() for n in names}:
            names.append(name)
    return names


def clean_row(cells: list[str], layout: CsvLayout, *, country: str) -> ImportRow | None:
    """The row's values, normalized. None for a row with nothing in it.

    A bad optional field (an email, phone, birthday, tag, consent or over-long name or note
    that cannot be read) is left out and listed in `row.dropped`: the row is imported without
    it. Raises RowInvalid only when nothing is left to tell who the row is (or its external
    id, which identifies it, is unusable)."""
    values = {column: (cells[index].strip() if index < len(cells) else "") for column, index in layout.columns.items()}
    if not any(values.values()):
        return None
    row = ImportRow()

    def drop(field_name: str, reason: str) -> None:
        row.dropped.append(FieldDropped(field_name, reason))

    if len(values.get("external_id", "")) > MAX_LENGTHS["external_id"]:
        raise RowInvalid("external_id", f"longer than {MAX_LENGTHS['external_id']} characters.")
    row.external_id = values.get("external_id", "")
    first, last = values.get("first_name", ""), values.get("last_name", "")
    if not (first or last) and values.get("name"):
        full = " ".join(values["name"].split())
        first, _, last = full.rpartition(" ") if " " in full else (full, "", "")
        if len(first) > MAX_LENGTHS["first_name"] or len(last) > MAX_LENGTHS["last_name"]:
            drop("name", f"longer than {NAME_MAX_LENGTH} characters per part.")
            first = last = ""
    for name, value in (("first_name", first), ("last_name", last)):
        if len(value) > MAX_LENGTHS[name]:
            drop(name, f"longer than {MAX_LENGTHS[name]} characters.")
            value = ""
        setattr(row, name, value or None)
    if values.get("email"):
        try:
            row.email = normalize_email(values["email"])
            row.email_hash = contact_hash(row.email)
        except ValidationError:
            drop("email", f"{values['email'][:100]!r} is not an email address.")
    if values.get("phone"):
        try:
            phone, extension = split_phone(values["phone"], region=country)
            row.phone, row.phone_extension = phone, extension or None
            row.phone_hash = contact_hash(row.phone)
        except ValidationError:
            drop("phone", f"{values['phone'][:40]!r} is not a valid phone number.")
    try:
        row.birthday = parse_csv_birthday(values.get("birthday", ""), country=country)
    except RowInvalid as exc:
        drop(exc.field, exc.reason)
    try:
        row.tags = split_tags(values.get("tags", ""))
    except RowInvalid as exc:
        drop(exc.field, exc.reason)
    notes = values.get("notes") or None
    if notes and len(notes) > MAX_LENGTHS["notes"]:
        drop("notes", f"longer than {MAX_LENGTHS['notes']} characters.")
        notes = None
    row.notes = notes
    for name in ("email_consent", "sms_consent"):
        try:
            setattr(row, name, parse_consent(values.get(name, ""), name))
        except RowInvalid as exc:
            drop(exc.field, exc.reason)
    if not identifies_someone(
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        phone=row.phone,
        external_id=row.external_id,
    ):
        if row.dropped:
            first_drop = row.dropped[0]
            raise RowInvalid(first_drop.field, f"{first_drop.reason} Nothing else tells who the row is.")
        raise RowInvalid("name", "the row has no name, email, phone or external id.")
    return row
