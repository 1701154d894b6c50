"""The import framework: a page of provider records in, each mapped to a typed record and
handed to the domain that owns it.

The provider modules (`square`, `acuity`, `hubspot`, `custom_crm`) are mappers: a provider
record in, a typed record out (clients.records.ContactRecord; analytics.records' sales,
refunds, catalog and appointments; integrations.catalog's variations), with no database
write of their own. Their page importers read what a page needs to map it (the rows its
records already have, the clients their customer ids are linked to) and hand each record
to its owner's one door: clients.services.client_upsert (the CSV import's too) and the
`*_upsert_from_provider` / `refund_upsert` services of analytics, which say whether a
record created, updated or left a row unchanged (an unchanged record costs no write).

`import_page` runs one page inside the caller's tenant transaction: in one savepoint, and
when a record fails, again record by record, each in its own savepoint, so a record the
database refuses is reported and the rest of the page is kept.

Contacts follow the client upsert's rules: one matching rule (external id, then email hash,
then phone hash), one field rule (the source that created a client keeps it current, others
fill blanks, a blank never erases) and one consent rule (clients.consent). Money follows
analytics' validators (`money_rules`), the same the transactions API uses.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from analytics.records import CREATED, SKIPPED, UPDATED
from clients.models import Client, ClientExternalId
from clients.records import ContactRecord, contact_record
from clients.rules import identifies_someone
from clients.services import client_profiles_date, client_upsert
from common.errors import Conflict, InvalidInput
from common.validation import RANGE_TEXT, instant_in_range
from tenants.changes import Actor, record_changes
from tenants.models import Tenant

logger = logging.getLogger("brandvx.integrations")

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

Raw = Any  # a provider's record as its JSON decodes: a dict when well formed
Note = dict[str, str]


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
    errors: list[dict[str, str]] = field(default_factory=list)

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_counts(self, resource: str) -> dict[str, int]:
        counts = {f"{resource}.{name}": getattr(self, name) for name in OUTCOMES}
        # Notes are counted when there are any: a page without them reads as before.
        for name in NOTE_COUNTERS.values():
            if getattr(self, name):
                counts[f"{resource}.{name}"] = getattr(self, name)
        return counts


class PageImporter(Protocol):
    """What `import_page` drives, for every resource (contacts too).

    - `tenant`, and `change_source`: the provider named as the actor of the change records a
      page leaves ("" when the owner's service records its own, as client_upsert does);
    - `external_id_of(raw)`: the record's id, for the job's errors and change records;
    - `prefetch(records)`: read, in a few queries, what the page's records already have;
    - `import_record(raw)`: map the record (RecordError for a malformed one) and hand it to
      the owning domain's service; returns the outcome (created, updated, unchanged, skipped);
    - `forget(raw)`: the record's (or the page's) savepoint was rolled back: drop what was
      cached of it, so that the next prefetch reads it again;
    - `take_notes()`: what the last record's outcome carries besides it (NOTE_COUNTERS), once.
    """

    tenant: Tenant
    change_source: str

    def external_id_of(self, raw: Raw) -> str: ...

    def prefetch(self, records: list[Raw]) -> None: ...

    def import_record(self, raw: Raw) -> str: ...

    def forget(self, raw: Raw) -> None: ...

    def take_notes(self) -> list[Note]: ...


class ImporterBase:
    """The defaults of a PageImporter: ids under `external_id_key`, notes in `notes`."""

    external_id_key = "id"
    change_source = ""

    def __init__(self) -> None:
        self.notes: list[Note] = []

    def external_id_of(self, raw: Raw) -> str:
        return str(raw.get(self.external_id_key) or "") if isinstance(raw, dict) else ""

    def take_notes(self) -> list[Note]:
        notes, self.notes = self.notes, []
        return notes

    def forget(self, raw: Raw) -> None:
        pass

    def note_dropped(self, contact: ContactRecord) -> None:
        for dropped in contact.dropped:
            self.notes.append({"kind": "field_dropped", "field": dropped.field, "reason": dropped.reason})


def import_page(importer: PageImporter, records: list[Raw], *, resource: str) -> PageCounts:
    """Import one page inside the caller's transaction.

    First the whole page in one savepoint: a page of unchanged records then costs its
    prefetch and nothing else (the owners' services tell "unchanged" without a query). If a
    record fails, that savepoint is rolled back, the importer forgets what it cached, and the
    page is imported again record by record, each in its own savepoint, so a record the
    database refuses is reported and the rest of the page is kept."""
    importer.prefetch(records)
    try:
        with transaction.atomic():
            counts, changed = _import_records(importer, records, resource=resource, one_by_one=False)
    except (RecordError, ValidationError, DatabaseError):
        importer.take_notes()
        for raw in records:
            importer.forget(raw)
        importer.prefetch(records)
        counts, changed = _import_records(importer, records, resource=resource, one_by_one=True)
    # Who changed what: one change record per created or updated object, in one INSERT per
    # outcome, in the page's transaction (clients record theirs in clients.services.client_upsert).
    if importer.change_source:
        for outcome, external_ids in changed.items():
            record_changes(
                tenant=importer.tenant,
                actor=Actor.provider(importer.change_source),
                action=f"{resource}.{outcome}",
                object_type=resource,
                object_ids=external_ids,
            )
    return counts


def _import_records(
    importer: PageImporter, records: list[Raw], *, resource: str, one_by_one: bool
) -> tuple[PageCounts, dict[str, list[str]]]:
    """The page's records in order; `one_by_one`: each in its own savepoint, a failure
    counted and reported (else a failure is raised: the caller rolls the page back)."""
    counts = PageCounts(fetched=len(records))
    changed: dict[str, list[str]] = {}
    for raw in records:
        external_id = importer.external_id_of(raw)
        try:
            if one_by_one:
                with transaction.atomic():
                    outcome = importer.import_record(raw)
            else:
                outcome = importer.import_record(raw)
            counts.add(outcome)
            if outcome in (CREATED, UPDATED):
                changed.setdefault(outcome, []).append(external_id)
            for note in importer.take_notes():
                setattr(counts, NOTE_COUNTERS[note["kind"]], getattr(counts, NOTE_COUNTERS[note["kind"]]) + 1)
                counts.errors.append({"resource": resource, "external_id": external_id, **note})
        except (RecordError, ValidationError, DatabaseError) as exc:
            if not one_by_one:
                raise
            importer.take_notes()  # a failed record is reported by its reason alone
            importer.forget(raw)
            counts.failed += 1
            if isinstance(exc, RecordError):
                reason = exc.reason
            else:
                logger.warning("%s %s was not saved: %s", resource, external_id, exc)
                reason = _safe_reason(exc)
            counts.errors.append({"resource": resource, "external_id": external_id, "reason": reason})
    return counts, changed


def _safe_reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)[:300]
    # Database messages can carry SQL and other rows' values: the log has them, the job not.
    return f"the database refused the record ({type(exc).__name__})"


# --- shared conversions ------------------------------------------------------------------


@contextlib.contextmanager
def money_rules() -> Iterator[None]:
    """Run analytics' validators (the one owner of the money rules) for one record: their
    InvalidInput (or a uniqueness Conflict) becomes this record's RecordError, so the rest
    of the page is kept."""
    try:
        yield
    except (InvalidInput, Conflict) as exc:
        raise RecordError(str(exc.detail)) from None


def to_minor_units(value: object, currency: str) -> int:
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


def parse_timestamp(value: object, what: str) -> datetime.datetime:
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


def clip(value: object, length: int) -> str:
    return str(value or "").strip()[:length]


# --- contacts ----------------------------------------------------------------------------


def make_contact(
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
    created_at: object = None,
) -> ContactRecord:
    """The normalized contact of a provider record (clients.records.contact_record): an
    optional field that cannot be read (a phone '555-1234', a birthday in 1899) is left out
    and listed in `dropped` (the importer reports it); only a record with no name, email or
    phone left fails as a whole."""
    contact = contact_record(
        external_id=external_id,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        birthday=birthday,
        notes=notes,
        email_unsubscribed=email_unsubscribed,
        region=region,
        provider_created_at=_lenient_timestamp(created_at),
    )
    # The provider's own id is no one's identity here: every record of a provider has one.
    if not identifies_someone(
        first_name=contact.first_name, last_name=contact.last_name, email=contact.email, phone=contact.phone
    ):
        reasons = "; ".join(f"{d.field}: {d.reason}" for d in contact.dropped)
        raise RecordError(
            f"nothing identifies the person (no name, email or phone){f' ({reasons})' if reasons else ''}"
        )
    return contact


def _lenient_timestamp(value: object) -> datetime.datetime | None:
    try:
        return parse_timestamp(value, "created_at") if value else None
    except RecordError:
        return None


class ClientImporter(ImporterBase):
    """Contacts of one provider, each handed to clients.services.client_upsert with what the
    page's prefetch knows: the client its external id is linked to and that client's
    profiles of the provider (so an unchanged contact costs no query)."""

    def __init__(
        self,
        *,
        tenant: Tenant,
        provider: str,
        to_contact: Callable[[Raw], ContactRecord],
        skip: Callable[[Raw], bool] | None = None,
        key: Callable[[Raw], str] | None = None,
    ):
        super().__init__()
        self.tenant = tenant
        self.provider = provider
        self.to_contact = to_contact
        self.skip = skip
        self.key = key
        self.links: dict[str, Client] = {}
        self.looked_up: set[str] = set()  # external ids whose link (or its absence) is known
        # {client id: {external id: provider created_at}}: each linked client's profiles of
        # this provider, from which client_upsert tells the one that owns the client.
        self.profiles: dict[uuid.UUID, dict[str, datetime.datetime | None]] = {}

    def external_id_of(self, raw: Raw) -> str:
        if self.key is not None:
            return self.key(raw)
        if isinstance(raw, dict):
            return str(raw.get("id") or raw.get("external_id") or "")
        return ""

    def prefetch(self, records: list[Raw]) -> None:
        ids = [eid for eid in (self.external_id_of(r) for r in records) if eid and eid not in self.looked_up]
        if ids:
            links = ClientExternalId.objects.filter(provider=self.provider, external_id__in=ids)
            for link in links.select_related("client"):
                self.links[link.external_id] = link.client
            self.looked_up.update(ids)
        self._load_profiles({c.id for c in self.links.values()} - set(self.profiles))
        # Profiles linked before their creation time was kept get it from this page, all of
        # them before any record is imported, so the owner is the same whatever the order.
        dates: dict[str, datetime.datetime] = {}
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
                dates[external_id] = created_at
        if dates:
            client_profiles_date(tenant=self.tenant, source=self.provider, created_at=dates)
            for external_id, created_at in dates.items():
                self.profiles[self.links[external_id].id][external_id] = created_at

    def _load_profiles(self, client_ids: Iterable[uuid.UUID]) -> None:
        client_ids = set(client_ids)
        if not client_ids:
            return
        for client_id in client_ids:
            self.profiles[client_id] = {}
        rows = ClientExternalId.objects.filter(provider=self.provider, client_id__in=client_ids).values_list(
            "client_id", "external_id", "provider_created_at"
        )
        for client_id, external_id, created_at in rows:
            self.profiles[client_id][external_id] = created_at

    def forget(self, raw: Raw) -> None:
        # The savepoint rolled back: the cached client may hold what was not saved.
        external_id = self.external_id_of(raw)
        client = self.links.pop(external_id, None)
        self.looked_up.discard(external_id)
        if client is not None:
            self.profiles.pop(client.id, None)

    def import_record(self, raw: Raw) -> str:
        if self.skip is not None and isinstance(raw, dict) and self.skip(raw):
            return SKIPPED
        contact = self.to_contact(raw)
        self.note_dropped(contact)
        external_id = contact.external_id
        client = self.links.get(external_id)
        result = client_upsert(
            tenant=self.tenant,
            source=self.provider,
            record=contact,
            client=client,
            # prefetch() already looked the external id up: an unlinked id is not matched again.
            match_external_id=external_id not in self.looked_up,
            profiles=self.profiles.get(client.id) if client is not None else None,
        )
        if result.owner_external_id:
            self.notes.append(
                {
                    "kind": "duplicate_candidate",
                    "client_id": str(result.client.id),
                    "owner_external_id": result.owner_external_id,
                    "reason": f"the same person as {self.provider} profile {result.owner_external_id}, "
                    "which owns the client's fields",
                }
            )
        self.links[external_id] = result.client
        self.looked_up.add(external_id)
        if result.outcome == CREATED:
            self.profiles[result.client.id] = {external_id: contact.provider_created_at}
        elif client is None:
            # Linked now to a client found by email or phone: its profiles are read again.
            self._load_profiles({result.client.id})
        return result.outcome
