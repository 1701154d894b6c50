"""The value types an import hands to the client upsert (clients.services.client_upsert): a
person as a CSV row or a provider record describes them, normalized, and the optional fields
that could not be read. Importers build these; only clients.services writes them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from clients.normalize import contact_hash


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
        return bool(self.first_name or self.last_name or self.email or self.phone or self.external_id)

    @property
    def email_hash(self) -> str:
        return contact_hash(self.email or "")

    @property
    def phone_hash(self) -> str:
        return contact_hash(self.phone or "")
