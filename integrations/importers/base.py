"""From provider records to our rows: mapping, matching and idempotent upserts.

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

from analytics.models import Appointment, Refund, Service, ServiceCategory, Transaction, TransactionLineItem
from analytics.services import (
    check_amounts,
    refunds_follow_sale,
    transaction_refunds_recount,
    validate_choice,
    validate_currency,
    validate_minor_units,
)
from brandvx.errors import InvalidParameter
from clients.models import Client, ClientExternalId
from clients.normalize import normalize_email, parse_birthday, split_phone
from clients.services import (
    ContactRecord,
    FieldDropped,
    client_upsert,
    client_upsert_is_unchanged,
    profile_owner,
)
from integrations.models import CatalogVariation
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
    InvalidParameter becomes this record's RecordError, so the rest of the page is kept."""
    try:
        yield
    except InvalidParameter as exc:
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


def contact_from_square(raw: dict, *, region: str) -> Contact:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise RecordError("customer has no id")
    first, last = raw.get("given_name"), raw.get("family_name")
    if not (first or last):
        first = raw.get("nickname") or raw.get("company_name")
    preferences = raw.get("preferences") or {}
    unsubscribed = preferences.get("email_unsubscribed")
    return make_contact(
        external_id=str(raw["id"]),
        first_name=first,
        last_name=last,
        email=raw.get("email_address"),
        phone=raw.get("phone_number"),
        birthday=raw.get("birthday"),
        notes=raw.get("note"),
        email_unsubscribed=unsubscribed if isinstance(unsubscribed, bool) else None,
        region=region,
        created_at=raw.get("created_at"),
    )


def contact_from_hubspot(raw: dict, *, region: str, birthday_property: str = "") -> Contact:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise RecordError("contact has no id")
    props = raw.get("properties") or {}
    birthday = props.get(birthday_property) if birthday_property else None
    if birthday and str(birthday).isdigit():  # date properties may come as epoch milliseconds
        birthday = datetime.datetime.fromtimestamp(int(birthday) / 1000, tz=datetime.UTC).date().isoformat()
    optout = props.get("hs_email_optout")
    return make_contact(
        external_id=str(raw["id"]),
        first_name=props.get("firstname"),
        last_name=props.get("lastname"),
        email=props.get("email"),
        phone=props.get("phone") or props.get("mobilephone"),
        birthday=birthday,
        email_unsubscribed={"true": True, "false": False}.get(str(optout).lower()) if optout is not None else None,
        region=region,
        created_at=raw.get("createdAt"),
    )


def acuity_client_key(raw) -> str:
    """Acuity's clients have no id: a client is known by its email, else its phone, else its
    name (the same key on every sync, so an unchanged client is recognized)."""
    if not isinstance(raw, dict):
        return ""
    email = str(raw.get("email") or "").strip().lower()
    if email:
        return f"email:{email}"[:255]
    phone = "".join(ch for ch in str(raw.get("phone") or "") if ch.isdigit())
    if phone:
        return f"phone:{phone}"[:255]
    name = " ".join(f"{raw.get('firstName') or ''} {raw.get('lastName') or ''}".lower().split())
    return f"name:{name}"[:255] if name else ""


def contact_from_acuity_client(raw: dict, *, region: str) -> Contact:
    """GET /clients: {firstName, lastName, email, phone, notes}; no id, no birthday."""
    key = acuity_client_key(raw)
    if not key:
        raise RecordError("client has no name, email or phone")
    return make_contact(
        external_id=key,
        first_name=raw.get("firstName"),
        last_name=raw.get("lastName"),
        email=raw.get("email"),
        phone=raw.get("phone"),
        birthday=None,
        notes=raw.get("notes"),
        region=region,
    )


def contact_from_custom(raw: dict, *, region: str) -> Contact:
    if not isinstance(raw, dict):
        raise RecordError("contact is not an object")
    external_id = str(raw.get("external_id") or raw.get("id") or "").strip()
    if not external_id:
        raise RecordError("contact has no external_id")
    consent = raw.get("email_consent")
    return make_contact(
        external_id=external_id,
        first_name=raw.get("first_name"),
        last_name=raw.get("last_name"),
        email=raw.get("email"),
        phone=raw.get("phone"),
        birthday=raw.get("birthday"),
        notes=raw.get("notes"),
        email_unsubscribed=(not consent) if isinstance(consent, bool) else None,
        region=region,
    )


class PageImporter:
    """What import_page needs of an importer: each record's external id, `prefetch(page)` of
    the rows that already exist, `committed()` after a record's savepoint is released, and
    `forget()` after one is rolled back. The default forget re-reads the page: a rolled-back
    record may have left a half-applied object in the importer's maps."""

    external_id_key = "id"
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
        # this provider, to tell the one that owns it (clients.services.profile_owner).
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
            owner = profile_owner(profiles) if contact.external_id in profiles else ""
            if owner and owner != contact.external_id:
                self._note_duplicate(client, owner)
            if client_upsert_is_unchanged(
                client, contact, source=self.provider, profile_owner=owner in ("", contact.external_id)
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


# --- Square catalog -> categories, services, variations ----------------------------------


def item_category_id(item_data: dict) -> str:
    """Square's category of an item: reporting_category, else the first category, else the
    legacy category_id."""
    reporting = (item_data.get("reporting_category") or {}).get("id")
    if reporting:
        return reporting
    categories = item_data.get("categories") or []
    if categories and isinstance(categories[0], dict) and categories[0].get("id"):
        return categories[0]["id"]
    return item_data.get("category_id") or ""


class SquareCatalogImporter(PageImporter):
    """Writes catalog objects of one type at a time: CATEGORY, then ITEM, then ITEM_VARIATION
    (the caller orders the pages), so references resolve within the run."""

    def __init__(self, *, tenant: Tenant, items_by_id: dict[str, dict]):
        self.tenant = tenant
        self.items_by_id = items_by_id
        self.categories: dict[str, ServiceCategory] = {}
        self.services: dict[str, Service] = {}
        self.variations: dict[str, CatalogVariation] = {}

    def forget(self) -> None:
        # A failed savepoint may leave a half-applied object in a map: reload from the
        # database (the savepoint's rollback made it consistent again).
        self.categories, self.services, self.variations = {}, {}, {}
        self.prefetch(self._page)

    def prefetch(self, records) -> None:
        self._page = records
        if not self.categories:
            self.categories = {
                c.external_id: c for c in ServiceCategory.objects.filter(source="square").exclude(external_id="")
            }
        if not self.services:
            self.services = {s.external_id: s for s in Service.objects.filter(source="square").exclude(external_id="")}
        ids = [self.external_id_of(r) for r in records if r.get("type") == "ITEM_VARIATION"]
        missing = [i for i in ids if i not in self.variations]
        if missing:
            for variation in CatalogVariation.objects.filter(provider="square", external_id__in=missing):
                self.variations[variation.external_id] = variation

    def plan(self, raw: dict):
        kind = raw.get("type")
        if not raw.get("id"):
            raise RecordError("catalog object has no id")
        if kind == "CATEGORY":
            return self._plan_category(raw)
        if kind == "ITEM":
            return self._plan_item(raw)
        if kind == "ITEM_VARIATION":
            return self._plan_variation(raw)
        return SKIPPED

    def _plan_category(self, raw: dict):
        name = _clip((raw.get("category_data") or {}).get("name"), 100)
        if not name:
            raise RecordError("category has no name")
        existing = self.categories.get(raw["id"])
        if existing is not None:
            if existing.name == name:
                return UNCHANGED
            return lambda: (_apply(existing, {"name": name}), UPDATED)[1]

        def create() -> str:
            # A category of the same name entered by hand is adopted, not duplicated (names
            # are unique per tenant, case-insensitively).
            same_name = ServiceCategory.objects.filter(name__iexact=name).first()
            if same_name is not None and same_name.external_id == "":
                _apply(same_name, {"source": "square", "external_id": raw["id"]})
                self.categories[raw["id"]] = same_name
                return UPDATED
            if same_name is not None:
                raise RecordError(f"category name {name!r} is already used by another source")
            self.categories[raw["id"]] = ServiceCategory.objects.create(
                tenant=self.tenant, name=name, source="square", external_id=raw["id"]
            )
            return CREATED

        return create

    def _plan_item(self, raw: dict):
        data = raw.get("item_data") or {}
        name = _clip(data.get("name"), 200)
        if not name:
            raise RecordError("item has no name")
        variations = [v for v in data.get("variations") or [] if isinstance(v, dict)]
        first = (variations[0].get("item_variation_data") or {}) if variations else {}
        money = first.get("price_money") or {}
        duration_ms = first.get("service_duration")
        category = self.categories.get(item_category_id(data))
        # VARIABLE_PRICING: priced at the time of sale. Kept as variable, not as a price of 0.
        variable = first.get("pricing_type") == "VARIABLE_PRICING" or (bool(first) and money.get("amount") is None)
        values = {
            "name": name,
            "category_id": category.id if category else None,
            "price_amount": 0 if variable else int(money.get("amount") or 0),
            "price_is_variable": variable,
            "currency": (money.get("currency") or self.tenant.currency)[:3],
            "duration_minutes": max(1, round(int(duration_ms) / 60000)) if duration_ms else 60,
            "is_active": not raw.get("is_deleted", False),
        }
        with money_rules():
            validate_minor_units(values["price_amount"], "price_amount")
        existing = self.services.get(raw["id"])
        if existing is not None:
            return _update_plan(existing, values)

        def create() -> str:
            self.services[raw["id"]] = Service.objects.create(
                tenant=self.tenant, source="square", external_id=raw["id"], **values
            )
            return CREATED

        return create

    def _plan_variation(self, raw: dict):
        data = raw.get("item_variation_data") or {}
        item_id = data.get("item_id") or ""
        service = self.services.get(item_id)
        money = data.get("price_money") or {}
        values = {
            "item_external_id": item_id,
            "service_id": service.id if service else None,
            "name": _clip(data.get("name"), 200),
            # None: a variable price (VARIABLE_PRICING), set at the time of sale.
            "price_amount": (
                int(money["amount"])
                if money.get("amount") is not None and data.get("pricing_type") != "VARIABLE_PRICING"
                else None
            ),
        }
        existing = self.variations.get(raw["id"])
        if existing is not None:
            return _update_plan(existing, values)

        def create() -> str:
            self.variations[raw["id"]] = CatalogVariation.objects.create(
                tenant=self.tenant, provider="square", external_id=raw["id"], **values
            )
            return CREATED

        return create


def flatten_catalog(objects: list[dict]) -> list[dict]:
    """Every CATEGORY, ITEM and ITEM_VARIATION once (variations also come nested in items),
    ordered so that what is referenced is written first."""
    seen: dict[str, dict] = {}
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        seen.setdefault(str(obj.get("id") or id(obj)), obj)
        for variation in (obj.get("item_data") or {}).get("variations") or []:
            if isinstance(variation, dict) and variation.get("id"):
                seen.setdefault(variation["id"], {"type": "ITEM_VARIATION", **variation})
    order = {"CATEGORY": 0, "ITEM": 1, "ITEM_VARIATION": 2}
    return sorted(seen.values(), key=lambda o: order.get(o.get("type"), 3))


# --- Square payments + orders -> transactions ----------------------------------------------


class SquarePaymentImporter(PageImporter):
    """Payments become transactions; their order's line items become line items, linked to
    services through catalog_object_id -> variation -> item -> Service."""

    def __init__(self, *, tenant: Tenant, orders: dict[str, dict] | None = None):
        self.tenant = tenant
        self.orders = orders or {}
        self.transactions: dict[str, Transaction] = {}
        self.client_ids: dict[str, object] = {}
        self.variation_services: dict[str, object] = {}

    def prefetch(self, records) -> None:
        self._page = records
        ids = [self.external_id_of(r) for r in records if self.external_id_of(r)]
        self.transactions = {
            t.external_id: t
            for t in Transaction.objects.filter(source="square", external_id__in=ids).prefetch_related("line_items")
        }
        customer_ids = {r.get("customer_id") for r in records if isinstance(r, dict)}
        customer_ids |= {o.get("customer_id") for o in self.orders.values()}
        customer_ids.discard(None)
        self.client_ids = dict(
            ClientExternalId.objects.filter(provider="square", external_id__in=customer_ids).values_list(
                "external_id", "client_id"
            )
        )
        catalog_ids = {li.get("catalog_object_id") for o in self.orders.values() for li in o.get("line_items") or []}
        catalog_ids.discard(None)
        self.variation_services = dict(
            CatalogVariation.objects.filter(provider="square", external_id__in=catalog_ids).values_list(
                "external_id", "service_id"
            )
        )

    def plan(self, raw: dict):
        if not isinstance(raw, dict) or not raw.get("id"):
            raise RecordError("payment has no id")
        status = raw.get("status")
        if status not in ("COMPLETED", "FAILED", "CANCELED"):
            return SKIPPED  # APPROVED / PENDING: not money yet; a later sync or webhook brings it
        total = raw.get("total_money") or raw.get("amount_money") or {}
        if total.get("amount") is None or not total.get("currency"):
            raise RecordError("payment has no total_money")
        amount = int(total["amount"])
        existing = self.transactions.get(raw["id"])
        # Refunds are records of their own, dated by Square (SquareRefundImporter): the
        # payment's refunded_money is not copied, refunded_amount follows those records.
        refunded = existing.refunded_amount if existing is not None else 0
        if status == "COMPLETED":
            state = Transaction.Status.REFUNDED if amount > 0 and refunded >= amount else Transaction.Status.COMPLETED
        else:
            state = Transaction.Status.FAILED
        with money_rules():
            check_amounts(Transaction(total_amount=amount, refunded_amount=refunded, status=state))
        order = self.orders.get(raw.get("order_id") or "") or {}
        customer_id = raw.get("customer_id") or order.get("customer_id")
        values = {
            "occurred_at": parse_timestamp(raw.get("created_at"), "created_at"),
            "status": state,
            "total_amount": amount,
            "currency": total["currency"][:3],
            "client_id": self.client_ids.get(customer_id),
            **_square_parts(raw, order, amount),
        }
        lines = self._line_items(order, values["currency"])
        if existing is not None:
            changes = _changed(existing, values)
            if changes.get("client_id", True) is None:  # a client matched earlier is kept
                del changes["client_id"]
            stored = sorted((li.description, li.quantity, li.amount, li.service_id) for li in existing.line_items.all())
            lines_changed = order != {} and stored != sorted(lines)
            if not changes and not lines_changed:
                return UNCHANGED

            def update() -> str:
                _apply(existing, changes)
                if "currency" in changes:
                    refunds_follow_sale(existing)
                if lines_changed:
                    self._replace_lines(existing, lines)
                return UPDATED

            return update

        def create() -> str:
            txn = Transaction.objects.create(tenant=self.tenant, source="square", external_id=raw["id"], **values)
            self._replace_lines(txn, lines)
            return CREATED

        return create

    def _line_items(self, order: dict, currency: str) -> list[tuple]:
        lines = []
        for item in order.get("line_items") or []:
            name = item.get("name") or ""
            if item.get("variation_name") and item.get("variation_name") != "Regular":
                name = f"{name} ({item['variation_name']})"
            try:
                quantity = Decimal(str(item.get("quantity") or "1")).quantize(Decimal("0.001"))
            except InvalidOperation:
                raise RecordError(f"line item quantity {item.get('quantity')!r} is not a number") from None
            money = item.get("total_money") or item.get("base_price_money") or {}
            with money_rules():
                amount = validate_minor_units(int(money.get("amount") or 0), "line_items.amount")
            lines.append((name[:255], quantity, amount, self.variation_services.get(item.get("catalog_object_id"))))
        return lines

    def _replace_lines(self, txn: Transaction, lines: list[tuple]) -> None:
        TransactionLineItem.objects.filter(transaction=txn).delete()
        TransactionLineItem.objects.bulk_create(
            [
                TransactionLineItem(
                    tenant=self.tenant, transaction=txn, description=d, quantity=q, amount=a, service_id=s
                )
                for d, q, a, s in lines
            ]
        )


def _square_parts(payment: dict, order: dict, total: int) -> dict:
    """Tip from the payment; tax and discount from its order when this payment pays the whole
    order (one tender: with several, the order's tax is not this payment's). Parts that do
    not fit in the total are left at 0 rather than reported wrong."""
    tip = int((payment.get("tip_money") or {}).get("amount") or 0)
    tax = discount = 0
    if order and len(order.get("tenders") or []) <= 1:
        tax = int((order.get("total_tax_money") or {}).get("amount") or 0)
        discount = int((order.get("total_discount_money") or {}).get("amount") or 0)
    if not 0 <= tip <= total:
        tip = 0
    if not 0 <= tax <= total - tip:
        tax = 0
    return {"tip_amount": tip, "tax_amount": tax, "discount_amount": max(discount, 0)}


# Square refund statuses that mean money goes back (PENDING: issued, not yet settled; counted
# from the day it was issued, as the owner issued it then). REJECTED and FAILED gave nothing back.
SQUARE_REFUND_COUNTS = ("PENDING", "COMPLETED")


def _recount(tenant: Tenant, sale: Transaction) -> None:
    try:
        transaction_refunds_recount(tenant=tenant, sale=sale)
    except InvalidParameter as exc:
        raise RecordError(str(exc.detail)) from None


class SquareRefundImporter(PageImporter):
    """Square PaymentRefunds become Refund rows of the payment's sale, dated by their own
    `created_at` (the day the money went back, as Square's reports show it).

    A refund replaces the estimates the refunds migration left on a Square sale (rows of
    source square with no external id): Square's dated records are the truth."""

    def __init__(self, *, tenant: Tenant):
        self.tenant = tenant
        self.refunds: dict[str, Refund] = {}
        self.sales: dict[str, Transaction] = {}

    def prefetch(self, records) -> None:
        self._page = records
        ids = [self.external_id_of(r) for r in records if self.external_id_of(r)]
        self.refunds = {r.external_id: r for r in Refund.objects.filter(source="square", external_id__in=ids)}
        payment_ids = {str(r.get("payment_id")) for r in records if isinstance(r, dict) and r.get("payment_id")}
        self.sales = {
            t.external_id: t for t in Transaction.objects.filter(source="square", external_id__in=payment_ids)
        }

    def plan(self, raw: dict):
        if not isinstance(raw, dict) or not raw.get("id"):
            raise RecordError("refund has no id")
        money = raw.get("amount_money") or {}
        if money.get("amount") is None or not money.get("currency"):
            raise RecordError("refund has no amount_money")
        amount = int(money["amount"])
        counts = raw.get("status") in SQUARE_REFUND_COUNTS and amount > 0
        existing = self.refunds.get(raw["id"])
        sale = self.sales.get(str(raw.get("payment_id") or ""))
        if sale is None:
            if existing is None:
                return SKIPPED  # a payment BrandVX does not have (before the history start)
            raise RecordError(f"refund {raw['id']} moved to payment {raw.get('payment_id')!r}")
        values = {
            "amount": amount,
            "currency": sale.currency,
            "refunded_at": parse_timestamp(raw.get("created_at"), "created_at"),
        }
        if existing is not None:
            if not counts:

                def drop() -> str:
                    existing.delete()
                    self.refunds.pop(raw["id"], None)
                    _recount(self.tenant, sale)
                    return UPDATED

                return drop
            changes = _changed(existing, values)
            if not changes:
                return UNCHANGED

            def update() -> str:
                _apply(existing, changes)
                _recount(self.tenant, sale)
                return UPDATED

            return update
        if not counts:
            return SKIPPED

        def create() -> str:
            Refund.objects.filter(transaction=sale, source="square", external_id="").delete()
            self.refunds[raw["id"]] = Refund.objects.create(
                tenant=self.tenant, transaction=sale, source="square", external_id=raw["id"], **values
            )
            _recount(self.tenant, sale)
            return CREATED

        return create


# --- Acuity appointments -> appointments (+ clients, + services per appointment type) ----


class AcuityAppointmentImporter(PageImporter):
    def __init__(self, *, tenant: Tenant, now: datetime.datetime | None = None):
        self.tenant = tenant
        self.now = now or timezone.now()
        self.notes = []
        self.appointments: dict[str, Appointment] = {}
        self.services: dict[str, Service] = {}

    def prefetch(self, records) -> None:
        self._page = records
        ids = [self.external_id_of(r) for r in records if self.external_id_of(r)]
        self.appointments = {a.external_id: a for a in Appointment.objects.filter(source="acuity", external_id__in=ids)}
        type_ids = {
            str(r.get("appointmentTypeID")) for r in records if isinstance(r, dict) and r.get("appointmentTypeID")
        }
        self.services = {s.external_id: s for s in Service.objects.filter(source="acuity", external_id__in=type_ids)}

    def plan(self, raw: dict):
        if not isinstance(raw, dict) or not raw.get("id"):
            raise RecordError("appointment has no id")
        external_id = str(raw["id"])
        start = parse_timestamp(raw.get("datetime"), "datetime")
        try:
            minutes = int(str(raw.get("duration") or "60"))
        except ValueError:
            raise RecordError(f"duration {raw.get('duration')!r} is not a number of minutes") from None
        end = start + datetime.timedelta(minutes=minutes)
        currency = self.tenant.currency
        price = to_minor_units(raw.get("price") or "0", currency)
        # Acuity records a no-show as a cancellation marked "no-show": canceled AND noShow.
        if str(raw.get("noShow")).lower() in ("true", "1"):
            status = Appointment.Status.NO_SHOW
        elif str(raw.get("canceled")).lower() in ("true", "1"):
            status = Appointment.Status.CANCELED
        elif end <= self.now:
            status = Appointment.Status.COMPLETED
        else:
            status = Appointment.Status.BOOKED
        try:
            contact = make_contact(
                external_id=f"acuity-appointment-{external_id}",
                first_name=raw.get("firstName"),
                last_name=raw.get("lastName"),
                email=raw.get("email"),
                phone=raw.get("phone"),
                birthday=None,
                region=self.tenant.country,
            )
        except RecordError:
            contact = None  # nobody to recognize: the appointment is kept without a client
        else:
            self.notes.extend({"kind": "field_dropped", "field": d.field, "reason": d.reason} for d in contact.dropped)
        type_id = str(raw.get("appointmentTypeID") or "")
        values = {
            "start_at": start,
            "end_at": end,
            "status": status,
            "price_amount": price,
            "currency": currency,
            "staff_name": _clip(raw.get("calendar"), 100),
        }
        existing = self.appointments.get(external_id)
        service = self.services.get(type_id)
        if existing is not None:
            changes = _changed(existing, values)
            if service is not None and existing.service_id != service.id:
                changes["service_id"] = service.id
            if not changes and existing.client_id is not None:
                return UNCHANGED

            def update() -> str:
                if existing.client_id is None:
                    client = self._client_for(contact)
                    if client is not None:
                        changes["client_id"] = client.id
                if not changes:
                    return UNCHANGED
                _apply(existing, changes)
                return UPDATED

            return update

        def create() -> str:
            client = self._client_for(contact)
            service_row = service or self._service_for(type_id, raw, price, minutes)
            self.appointments[external_id] = Appointment.objects.create(
                tenant=self.tenant,
                source="acuity",
                external_id=external_id,
                client=client,
                service=service_row,
                **values,
            )
            return CREATED

        return create

    def _client_for(self, contact: Contact | None) -> Client | None:
        # Acuity has no client ids: a person is recognized by email or phone only.
        if contact is None or not (contact.email or contact.phone):
            return None
        return client_upsert(tenant=self.tenant, source="acuity", record=contact, link=False).client

    def _service_for(self, type_id: str, raw: dict, price: int, minutes: int) -> Service | None:
        if not type_id:
            return None
        service, _ = Service.objects.get_or_create(
            source="acuity",
            external_id=type_id,
            defaults={
                "tenant": self.tenant,
                "name": _clip(raw.get("type") or f"Appointment type {type_id}", 200),
                "price_amount": price,
                "duration_minutes": max(1, minutes),
                "currency": self.tenant.currency,
            },
        )
        return service


# --- custom CRM transactions -----------------------------------------------------------------


class CustomTransactionImporter(PageImporter):
    """Transactions pushed by a custom CRM: amounts already in minor units, like our API.

    Optional per transaction: `tip_amount`, `tax_amount`, `discount_amount` (default 0) and
    `refunds`: [{"amount", "refunded_at", "external_id"?}], the sale's refunds, each on its
    own date; when sent, they replace the sale's refunds. Without `refunds`, a
    `refunded_amount` is one refund dated `refunded_at` (else occurred_at); the API's money
    rules apply (status "refunded" means refunded_amount equals total_amount). The sale's
    refunded_amount and status follow its refunds."""

    external_id_key = "external_id"

    def __init__(self, *, tenant: Tenant):
        self.tenant = tenant
        self.transactions: dict[str, Transaction] = {}
        self.client_ids: dict[str, object] = {}

    def prefetch(self, records) -> None:
        self._page = records
        ids = [self.external_id_of(r) for r in records]
        self.transactions = {
            t.external_id: t
            for t in Transaction.objects.filter(source="custom_crm", external_id__in=ids).prefetch_related("refunds")
        }
        client_refs = {
            str(r.get("client_external_id")) for r in records if isinstance(r, dict) and r.get("client_external_id")
        }
        self.client_ids = dict(
            ClientExternalId.objects.filter(provider="custom_crm", external_id__in=client_refs).values_list(
                "external_id", "client_id"
            )
        )

    def plan(self, raw: dict):
        external_id = self.external_id_of(raw)
        if not external_id:
            raise RecordError("transaction has no external_id")
        # The API's validators and money rules, so that a pushed sale is refused exactly when
        # the same sale sent to /api/v1/transactions/ would be.
        with money_rules():
            amount = validate_minor_units(raw.get("total_amount"), "total_amount")
            refunded = validate_minor_units(raw.get("refunded_amount", 0), "refunded_amount")
            status = validate_choice(raw.get("status") or "completed", Transaction.Status, "status")
            values = {
                "total_amount": amount,
                "currency": validate_currency(raw.get("currency") or self.tenant.currency),
                # Completed or refunded follows the refunds (below); failed is the CRM's word.
                "status": Transaction.Status.FAILED if status == "failed" else Transaction.Status.COMPLETED,
                "tip_amount": validate_minor_units(raw.get("tip_amount", 0), "tip_amount"),
                "tax_amount": validate_minor_units(raw.get("tax_amount", 0), "tax_amount"),
                "discount_amount": validate_minor_units(raw.get("discount_amount", 0), "discount_amount"),
            }
            check_amounts(Transaction(**{**values, "status": status, "refunded_amount": refunded}))
        occurred_at = parse_timestamp(raw.get("occurred_at"), "occurred_at")
        values.update(occurred_at=occurred_at, client_id=self.client_ids.get(str(raw.get("client_external_id") or "")))
        refunds = _custom_refunds(raw, status=status, total=amount, refunded=refunded, occurred_at=occurred_at)
        existing = self.transactions.get(external_id)
        if existing is not None:
            stored = sorted((r.external_id, r.amount, r.refunded_at) for r in existing.refunds.all())
            refunds_changed = refunds is not None and stored != sorted(refunds)
            if existing.status == Transaction.Status.REFUNDED and values["status"] == Transaction.Status.COMPLETED:
                values["status"] = existing.status  # refunded is derived from the refunds, not sent
            changes = _changed(existing, values)
            if not changes and not refunds_changed:
                return UNCHANGED

            def update() -> str:
                _apply(existing, changes)
                if "currency" in changes:
                    refunds_follow_sale(existing)
                if refunds_changed:
                    self._replace_refunds(existing, refunds)
                return UPDATED

            return update

        def create() -> str:
            sale = Transaction.objects.create(
                tenant=self.tenant, source="custom_crm", external_id=external_id, **values
            )
            if refunds:
                self._replace_refunds(sale, refunds)
            return CREATED

        return create

    def _replace_refunds(self, sale: Transaction, refunds: list[tuple[str, int, datetime.datetime]]) -> None:
        Refund.objects.filter(transaction=sale).delete()
        Refund.objects.bulk_create(
            [
                Refund(
                    tenant=self.tenant,
                    transaction=sale,
                    source="custom_crm",
                    external_id=eid,
                    amount=amount,
                    currency=sale.currency,
                    refunded_at=when,
                )
                for eid, amount, when in refunds
            ]
        )
        _recount(self.tenant, sale)


def _custom_refunds(
    raw: dict, *, status: str, total: int, refunded: int, occurred_at: datetime.datetime
) -> list[tuple[str, int, datetime.datetime]] | None:
    """(external id, amount, refunded_at) of each refund sent; None when none were sent and
    neither the status nor `refunded_amount` says anything about them (the stored refunds
    are kept). Without a `refunds` list, a `refunded_amount` (all of it for "refunded", as the
    money rules require) is one refund dated `refunded_at`, else the sale's occurred_at."""
    sent = raw.get("refunds")
    if sent is None:
        if status != "refunded" and not refunded:
            return None
        when = parse_timestamp(raw["refunded_at"], "refunded_at") if raw.get("refunded_at") else occurred_at
        return [("", refunded, when)] if refunded else []
    if not isinstance(sent, list) or len(sent) > 100:
        raise RecordError("refunds must be a list of at most 100 refunds")
    refunds = []
    for index, item in enumerate(sent):
        if not isinstance(item, dict):
            raise RecordError(f"refunds[{index}] is not an object")
        amount = item.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount < 2**63:
            raise RecordError(f"refunds[{index}].amount must be a positive integer in minor units")
        when = parse_timestamp(item.get("refunded_at"), f"refunds[{index}].refunded_at")
        if when < occurred_at:
            raise RecordError(f"refunds[{index}].refunded_at is before the sale's occurred_at")
        refunds.append((_clip(item.get("external_id"), 255), amount, when))
    if status == "failed" and refunds:
        raise RecordError("a failed transaction cannot have refunds")
    if sum(amount for _, amount, _ in refunds) > total:
        raise RecordError("the refunds exceed total_amount")
    return refunds
