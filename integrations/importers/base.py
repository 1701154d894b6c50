"""The import framework: from provider records to our rows (mapping, matching and idempotent upserts).

Every importer works on one page at a time inside the caller's tenant transaction:

1. `prefetch(raw_records)` loads, in a few queries, the rows the page already has;
2. `plan(raw)` maps one record (pure Python; raises RecordError for a malformed record) and
   compares it with what is stored. Unchanged records return UNCHANGED and cost no query;
3. otherwise `plan` returns a write that `import_page` runs in its own savepoint, so a
   record the database refuses is reported and the rest of the page is kept.

Contacts are written by the one client upsert, `clients.services.client_upsert`, which the
CSV import uses too: one matching rule (external id, then email hash, then phone hash), one
field rule (the source that created a client keeps it current, others fill blanks, a blank
never erases) and one consent rule (clients.consent: a provider's unsubscribe is recorded as a
withdrawal in the consent ledger; a provider's "not unsubscribed" grants only a client nobody
has decided for, and never undoes a withdrawal). Money goes through analytics' validators
(`money_rules`), the same the transactions API uses.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from analytics.models import Transaction
from analytics.services import transaction_refunds_recount
from clients.models import Client, ClientExternalId
from clients.normalize import normalize_email, parse_birthday, split_phone
from clients.rules import owning_profile
from clients.services import ContactRecord, FieldDropped, client_upsert, client_upsert_is_unchanged
from common.errors import Conflict, InvalidInput
from common.validation import RANGE_TEXT, instant_in_range
from tenants.changes import Actor, record_changes
from tenants.models import Tenant

logger = logging.getLogger("brandvx.integrations")

UNCHANGED = "unchanged"
CREATED = "created"
UPDATED = "updated"
SKIPPED = "skipped"

# ISO 4217 minor-unit exponents that are not 2.
_CURRENCY_EXPONENT = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}


class RecordError(Exception):
    """One provider record cannot be imported; `reason` is shown in the job's errors."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# What a record's outcome can carry besides it, as entries of the job's errors ("kind") and
# counters of the job ("customers.fields_dropped"): an optional field left out, a profile
# linked to a client another profile of the provider owns.
NOTE_COUNTERS = {"field_dropped": "fields_dropped", "duplicate_candidate": "duplicates"}
OUTCOMES = ("fetched", "created", "updated", "unchanged", "failed", "skipped")


@dataclass
class PageCounts:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    fields_dropped: int = 0
    duplicates: int = 0
    errors: list[dict] = field(default_factory=list)

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_counts(self, resource: str) -> dict[str, int]:
        counts = {f"{resource}.{name}": getattr(self, name) for name in OUTCOMES}
        # Notes are counted when there are any: a page without them reads as before.
        for name in NOTE_COUNTERS.values():
            if getattr(self, name):
                counts[f"{resource}.{name}"] = getattr(self, name)
        return counts


Write = Callable[[], str]


def import_page(importer, records: list[dict], *, resource: str) -> PageCounts:
    """Plan and write one page inside the caller's transaction, a savepoint per write."""
    counts = PageCounts(fetched=len(records))
    changed: dict[str, list[str]] = {}
    importer.prefetch(records)
    take_notes = getattr(importer, "take_notes", lambda: [])
    for raw in records:
        external_id = importer.external_id_of(raw)
        writing = False
        try:
            planned = importer.plan(raw)
            if callable(planned):
                writing = True
                with transaction.atomic():
                    planned = planned()
                importer.committed()
            counts.add(planned)
            if planned in (CREATED, UPDATED):
                changed.setdefault(planned, []).append(external_id)
            for note in take_notes():
                setattr(counts, NOTE_COUNTERS[note["kind"]], getattr(counts, NOTE_COUNTERS[note["kind"]]) + 1)
                counts.errors.append({"resource": resource, "external_id": external_id, **note})
        except (RecordError, ValidationError, DatabaseError) as exc:
            take_notes()  # a failed record is reported by its reason alone
            if writing:
                importer.forget()
            counts.failed += 1
            if isinstance(exc, RecordError):
                reason = exc.reason
            else:
                logger.warning("%s %s was not saved: %s", resource, external_id, exc)
                reason = _safe_reason(exc)
            counts.errors.append({"resource": resource, "external_id": external_id, "reason": reason})
    # Who changed what: one change record per created or updated object, in one INSERT per
    # outcome, in the page's transaction (clients record theirs in clients.services.client_upsert).
    source = getattr(importer, "source", "")
    for outcome, external_ids in changed.items():
        if source:
            record_changes(
                tenant=importer.tenant,
                actor=Actor.provider(source),
                action=f"{resource}.{outcome}",
                object_type=resource,
                object_ids=external_ids,
            )
    return counts


def _safe_reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)[:300]
    # Database messages can carry SQL and other rows' values: the log has them, the job not.
    return f"the database refused the record ({type(exc).__name__})"


# --- shared conversions ------------------------------------------------------------------


@contextlib.contextmanager
def money_rules():
    """Run analytics' validators (the one owner of the money rules) for one record: their
    InvalidInput (or a uniqueness Conflict) becomes this record's RecordError, so the rest
    of the page is kept."""
    try:
        yield
    except (InvalidInput, Conflict) as exc:
        raise RecordError(str(exc.detail)) from None


def to_minor_units(value, currency: str) -> int:
    """A decimal string ('30.00') to integer minor units, exactly; refuses what would round."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RecordError(f"price {value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise RecordError(f"price {value!r} is not a decimal number")
    scaled = amount.scaleb(_CURRENCY_EXPONENT.get(currency.upper(), 2))
    if scaled != scaled.to_integral_value():
        raise RecordError(f"price {value!r} has more decimals than {currency} allows")
    if scaled < 0:
        raise RecordError(f"price {value!r} is negative")
    return int(scaled)


def parse_timestamp(value, what: str) -> datetime.datetime:
    raw = str(value or "").strip()
    parsed = None
    if raw:
        try:
            parsed = datetime.datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S%z")  # Acuity: -0700
        except ValueError:
            parsed = parse_datetime(raw)
    if parsed is None:
        raise RecordError(f"{what} {raw!r} is not a timestamp")
    if timezone.is_naive(parsed):
        raise RecordError(f"{what} {raw!r} has no UTC offset")
    if not instant_in_range(parsed):
        # The API's range (common.validation), in UTC as stored: the custom CRM push too.
        raise RecordError(f"{what} {raw!r} is outside the {RANGE_TEXT}")
    return parsed


def _clip(value, length: int) -> str:
    return str(value or "").strip()[:length]


# --- contacts ----------------------------------------------------------------------------

# The normalized person an importer hands to the client upsert.
Contact = ContactRecord


def make_contact(
    *,
    external_id: str,
    first_name,
    last_name,
    email,
    phone,
    birthday,
    notes="",
    email_unsubscribed: bool | None = None,
    region: str,
    created_at=None,
) -> Contact:
    """The normalized contact of a provider record. An optional field that cannot be read (a
    phone '555-1234', a birthday in 1899) is left out and listed in `dropped` (the importer
    reports it); only a record with no name, email or phone left fails as a whole."""
    dropped: list[FieldDropped] = []
    normalized_email = normalized_phone = extension = ""
    parsed_birthday = (None, None, None)
    try:
        normalized_email = normalize_email(email)
    except ValidationError:
        dropped.append(FieldDropped("email", f"{str(email)[:100]!r} is not a valid email address"))
    try:
        normalized_phone, extension = split_phone(phone, region=region)
    except ValidationError:
        dropped.append(FieldDropped("phone", f"{str(phone)[:40]!r} is not a valid phone number"))
    try:
        parsed_birthday = parse_birthday(birthday)
    except ValidationError as exc:
        dropped.append(FieldDropped("birthday", exc.messages[0]))
    # An unsubscribe is a withdrawal; "not unsubscribed" is a grant of an address we have.
    email_consent = None
    if email_unsubscribed is True:
        email_consent = False
    elif email_unsubscribed is False and normalized_email:
        email_consent = True
    contact = Contact(
        external_id=external_id,
        first_name=_clip(first_name, 100),
        last_name=_clip(last_name, 100),
        email=normalized_email,
        phone=normalized_phone,
        phone_extension=extension or None,
        birthday=parsed_birthday if parsed_birthday[0] is not None else None,
        notes=str(notes or "").strip(),
        email_consent=email_consent,
        provider_created_at=_lenient_timestamp(created_at),
        dropped=dropped,
    )
    if not (contact.first_name or contact.last_name or contact.email or contact.phone):
        reasons = "; ".join(f"{d.field}: {d.reason}" for d in dropped)
        raise RecordError(
            f"nothing identifies the person (no name, email or phone){f' ({reasons})' if reasons else ''}"
        )
    return contact


def _lenient_timestamp(value) -> datetime.datetime | None:
    try:
        return parse_timestamp(value, "created_at") if value else None
    except RecordError:
        return None


class PageImporter:
    """What import_page needs of an importer: each record's external id, `prefetch(page)` of
    the rows that already exist, `committed()` after a record's savepoint is released, and
    `forget()` after one is rolled back. The default forget re-reads the page: a rolled-back
    record may have left a half-applied object in the importer's maps."""

    external_id_key = "id"
    # The provider whose data this is: the actor of the change records a page leaves.
    source = ""
    _page: list = []
    notes: list[dict]

    def take_notes(self) -> list[dict]:
        """What this record's outcome carries besides it (see NOTE_COUNTERS), once."""
        notes = getattr(self, "notes", None) or []
        self.notes = []
        return notes

    def external_id_of(self, raw) -> str:
        return str(raw.get(self.external_id_key) or "") if isinstance(raw, dict) else ""

    def committed(self) -> None:
        pass

    def forget(self) -> None:
        self.prefetch(self._page)

    def prefetch(self, records) -> None:
        raise NotImplementedError


class ClientImporter:
    """Upserts contacts of one provider into clients, linking by ClientExternalId."""

    def __init__(
        self,
        *,
        tenant: Tenant,
        provider: str,
        to_contact: Callable[[dict], Contact],
        skip: Callable[[dict], bool] | None = None,
        key: Callable[[dict], str] | None = None,
    ):
        self.tenant = tenant
        self.provider = provider
        self.to_contact = to_contact
        self.skip = skip
        self.key = key
        self.links: dict[str, Client] = {}
        # {client id: {external id: provider created_at}}: each linked client's profiles of
        # this provider, to tell the one that owns it (clients.rules.owning_profile).
        self.profiles: dict[object, dict] = {}
        self._pending: dict[str, Client] = {}
        self._pending_profiles: dict[object, dict | None] = {}
        self._notes: list[dict] = []
        self._undated: set[str] = set()  # linked profiles whose creation time is not stored yet

    def external_id_of(self, raw) -> str:
        if self.key is not None:
            return self.key(raw)
        if isinstance(raw, dict):
            return str(raw.get("id") or raw.get("external_id") or "")
        return ""

    def take_notes(self) -> list[dict]:
        notes, self._notes = self._notes, []
        return notes

    def prefetch(self, records: Iterable[dict]) -> None:
        ids = [eid for eid in (self.external_id_of(r) for r in records) if eid and eid not in self.links]
        if ids:
            for link in ClientExternalId.objects.filter(provider=self.provider, external_id__in=ids).select_related(
                "client"
            ):
                self.links[link.external_id] = link.client
        self._load_profiles({c.id for c in self.links.values()} - set(self.profiles))
        # Profiles linked before their creation time was kept get it from this page, all of
        # them before any record is planned, so the owner is the same whatever the order
        # (bookkeeping: a record still counts as unchanged when nothing else changes).
        for raw in records:
            external_id = self.external_id_of(raw)
            client = self.links.get(external_id)
            if client is None or self.profiles.get(client.id, {}).get(external_id, "") is not None:
                continue
            try:
                created_at = self.to_contact(raw).provider_created_at
            except (RecordError, ValidationError):
                continue
            if created_at is not None:
                self.profiles[client.id][external_id] = created_at
                self._undated.add(external_id)

    def _load_profiles(self, client_ids) -> None:
        if not client_ids:
            return
        for client_id in client_ids:
            self.profiles[client_id] = {}
        rows = ClientExternalId.objects.filter(provider=self.provider, client_id__in=client_ids).values_list(
            "client_id", "external_id", "provider_created_at"
        )
        for client_id, external_id, created_at in rows:
            self.profiles[client_id][external_id] = created_at

    def committed(self) -> None:
        self._undated -= set(self._pending)
        self.links.update(self._pending)
        for client_id, profiles in self._pending_profiles.items():
            if profiles is None:
                self.profiles.pop(client_id, None)
            else:
                self.profiles[client_id] = profiles
        self._load_profiles({c.id for c in self._pending.values()} - set(self.profiles))
        self._pending, self._pending_profiles = {}, {}

    def forget(self) -> None:
        for external_id in self._pending:
            self.links.pop(external_id, None)
        self._pending, self._pending_profiles = {}, {}

    def plan(self, raw: dict):
        if self.skip is not None and isinstance(raw, dict) and self.skip(raw):
            return SKIPPED
        contact = self.to_contact(raw)
        return self.plan_contact(contact)

    def _backfill(self, client: Client, contact: Contact, profiles: dict) -> None:
        ClientExternalId.objects.filter(provider=self.provider, external_id=contact.external_id).update(
            provider_created_at=contact.provider_created_at
        )
        self._pending[contact.external_id] = client
        self._pending_profiles[client.id] = profiles

    def _note_dropped(self, contact: Contact) -> None:
        for dropped in contact.dropped:
            self._notes.append({"kind": "field_dropped", "field": dropped.field, "reason": dropped.reason})

    def _note_duplicate(self, client: Client, owner: str) -> None:
        self._notes.append(
            {
                "kind": "duplicate_candidate",
                "client_id": str(client.id),
                "owner_external_id": owner,
                "reason": f"the same person as {self.provider} profile {owner}, which owns the client's fields",
            }
        )

    def plan_contact(self, contact: Contact):
        self._note_dropped(contact)
        client = self.links.get(contact.external_id)
        profiles = self.profiles.get(client.id) if client is not None else None
        backfill = contact.external_id in self._undated and profiles is not None
        if client is not None and profiles is not None:
            owner = owning_profile(profiles) if contact.external_id in profiles else ""
            if owner and owner != contact.external_id:
                self._note_duplicate(client, owner)
            if client_upsert_is_unchanged(
                client,
                contact,
                tenant=self.tenant,
                source=self.provider,
                profile_owner=owner in ("", contact.external_id),
            ):
                if not backfill:
                    return UNCHANGED
                return lambda: (self._backfill(client, contact, profiles), UNCHANGED)[1]

        def write() -> str:
            if backfill:
                self._backfill(client, contact, profiles)
            if client is not None:
                self._pending[contact.external_id] = client  # dropped again if the savepoint fails
            # prefetch() already looked the external id up: an unlinked id is not matched again.
            result = client_upsert(
                tenant=self.tenant,
                source=self.provider,
                record=contact,
                client=client,
                match_external_id=False,
                profiles=profiles,
            )
            self._pending[contact.external_id] = result.client
            if result.outcome == CREATED:
                self._pending_profiles[result.client.id] = {contact.external_id: contact.provider_created_at}
            elif client is None:
                # Linked now to a client found by email or phone: its profiles are re-read.
                self._pending_profiles[result.client.id] = None
                if result.owner_external_id:
                    self._note_duplicate(result.client, result.owner_external_id)
            return result.outcome

        return write


def _changed(existing, values: dict) -> dict:
    """The values that differ from what `existing` holds."""
    return {k: v for k, v in values.items() if getattr(existing, k) != v}


def _update_plan(existing, values: dict):
    """UNCHANGED when `existing` already holds `values`, else the write that brings it there."""
    changes = _changed(existing, values)
    if not changes:
        return UNCHANGED
    return lambda: (_apply(existing, changes), UPDATED)[1]


def _apply(obj, changes: dict) -> None:
    if not changes:
        return
    for name, value in changes.items():
        setattr(obj, name, value)
    update_fields = list(changes)
    if hasattr(obj, "updated_at"):
        update_fields.append("updated_at")
    obj.save(update_fields=update_fields)


def _recount(tenant: Tenant, sale: Transaction) -> None:
    try:
        transaction_refunds_recount(tenant=tenant, sale=sale)
    except InvalidInput as exc:
        raise RecordError(str(exc.detail)) from None
