"""The value types an import hands to the client upsert (clients.services.client_upsert): a
person as a CSV row or a provider record describes them, normalized, and the optional fields
that could not be read. Importers build these; only clients.services writes them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from clients.normalize import contact_hash, normalize_email, parse_birthday, split_phone
from clients.rules import identifies_someone


@dataclass
class FieldDropped:
    """An optional field of an imported record that could not be read: the record is imported
    without it, and the import's results say which field and why."""

    field: str
    reason: str


@dataclass
class ContactRecord:
    """A person as an import describes them, normalized (clients.normalize). None (or a
    blank): the import says nothing about that field, and nothing is erased.

    `provider_created_at`: when the provider created this profile (decides which of several
    profiles of one provider owns a client, see profile_owner). `dropped`: the fields the
    import could not read and left out (reported, never written)."""

    external_id: str = ""
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    phone_extension: str | None = None
    birthday: tuple[int, int, int | None] | None = None
    notes: str | None = None
    email_consent: bool | None = None
    sms_consent: bool | None = None
    provider_created_at: datetime.datetime | None = None
    dropped: list[FieldDropped] = field(default_factory=list)

    @property
    def identifies_someone(self) -> bool:
        """Whether anything is left to tell who this is (a record without it fails as a whole)."""
        return identifies_someone(
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            phone=self.phone,
            external_id=self.external_id,
        )

    @property
    def email_hash(self) -> str:
        return contact_hash(self.email or "")

    @property
    def phone_hash(self) -> str:
        return contact_hash(self.phone or "")


def contact_record(
    *,
    external_id: str,
    first_name: object,
    last_name: object,
    email: object,
    phone: object,
    birthday: object,
    notes: object = "",
    email_unsubscribed: bool | None = None,
    region: str,
    provider_created_at: datetime.datetime | None = None,
) -> ContactRecord:
    """A provider's person as a ContactRecord, normalized (clients.normalize). An optional
    field that cannot be read (a phone '555-1234', a birthday in 1899) is left out and listed
    in `dropped`. `email_unsubscribed`: True is a withdrawal, False a grant of an address we
    have, None says nothing. Names are cut to 100 characters."""
    dropped: list[FieldDropped] = []
    normalized_email = normalized_phone = extension = ""
    parsed_birthday: tuple[int | None, int | None, int | None] = (None, None, None)
    try:
        normalized_email = normalize_email(_text(email))
    except ValidationError:
        dropped.append(FieldDropped("email", f"{str(email)[:100]!r} is not a valid email address"))
    try:
        normalized_phone, extension = split_phone(_text(phone), region=region)
    except ValidationError:
        dropped.append(FieldDropped("phone", f"{str(phone)[:40]!r} is not a valid phone number"))
    try:
        parsed_birthday = parse_birthday(_text(birthday))
    except ValidationError as exc:
        dropped.append(FieldDropped("birthday", exc.messages[0]))
    email_consent = None
    if email_unsubscribed is True:
        email_consent = False
    elif email_unsubscribed is False and normalized_email:
        email_consent = True
    month, day, year = parsed_birthday
    return ContactRecord(
        external_id=external_id,
        first_name=_text(first_name).strip()[:100],
        last_name=_text(last_name).strip()[:100],
        email=normalized_email,
        phone=normalized_phone,
        phone_extension=extension or None,
        birthday=(month, day, year) if month is not None and day is not None else None,
        notes=_text(notes).strip(),
        email_consent=email_consent,
        provider_created_at=provider_created_at,
        dropped=dropped,
    )


def _text(value: object) -> str:
    return str(value or "")
