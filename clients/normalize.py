"""Normalizing contact data, shared by the API, the CSV import and provider imports.

The hashes (SHA-256 of the normalized value) are how one person is recognized across
sources: `Amy@Example.com ` and `amy@example.com` are one email; `(415) 555-0123`,
`415.555.0123` and `+1 415 555 0123` are one phone.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

_BIRTHDAY_RE = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?:[T ].*)?$")
_MONTH_DAY_RE = re.compile(r"^(?:--)?(?P<month>\d{1,2})[-/](?P<day>\d{1,2})$")


def normalize_email(value: str | None) -> str:
    """Trimmed and lower-cased; '' for blank. Raises ValidationError when not an email."""
    email = (value or "").strip().lower()
    if not email:
        return ""
    validate_email(email)
    return email


def normalize_phone(value: str | None, *, region: str = "US") -> str:
    """E.164 ('+14155550123'); '' for blank. `region` is the tenant's country, used when the
    number has no international prefix. Raises ValidationError when not a valid number.
    An extension is not part of E.164: `split_phone` returns it too."""
    return split_phone(value, region=region)[0]


def split_phone(value: str | None, *, region: str = "US") -> tuple[str, str]:
    """(E.164 number, extension) of a phone as written ('+1 415 555 0123 ext. 42' ->
    ('+14155550123', '42')); ('', '') for blank. Raises ValidationError like normalize_phone."""
    raw = (value or "").strip()
    if not raw:
        return "", ""
    e164, extension, problem = _parse_phone(raw, region.upper() if region else None)
    if problem:
        raise ValidationError(f"{raw!r} is not {problem}.")
    return e164, extension


@functools.lru_cache(maxsize=8192)
def _parse_phone(raw: str, region: str | None) -> tuple[str, str, str]:
    """(E.164, extension, "") of a phone as written, or ("", "", what it is not): remembered per
    distinct text and region, since an import file repeats numbers (households, a salon's own
    line) and phonenumbers' parse and validation are most of the cost of reading a row."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return "", "", "a phone number"
    if not phonenumbers.is_valid_number(number):
        return "", "", "a valid phone number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), number.extension or "", ""


def contact_hash(normalized: str) -> str:
    """SHA-256 hex of a normalized email or phone; '' for blank."""
    return hashlib.sha256(normalized.encode()).hexdigest() if normalized else ""


def parse_birthday(value: str | None) -> tuple[int | None, int | None, int | None]:
    """(month, day, year) from 'YYYY-MM-DD' (year 0000 = unknown, as Square sends it), an
    RFC 3339 timestamp, or 'MM-DD' / '--MM-DD'. (None, None, None) for blank."""
    raw = (value or "").strip()
    if not raw:
        return None, None, None
    match = _BIRTHDAY_RE.match(raw)
    if match:
        year = int(match["year"]) or None
        month, day = int(match["month"]), int(match["day"])
    else:
        match = _MONTH_DAY_RE.match(raw)
        if not match:
            raise ValidationError(f"{raw!r} is not a birthday (YYYY-MM-DD or MM-DD).")
        year, month, day = None, int(match["month"]), int(match["day"])
    try:
        datetime.date(year or 2000, month, day)  # 2000 is a leap year: Feb 29 is valid
    except ValueError:
        raise ValidationError(f"{raw!r} is not a valid date.") from None
    if year is not None and year < 1900:
        raise ValidationError(f"{raw!r}: birth year before 1900.")
    return month, day, year
