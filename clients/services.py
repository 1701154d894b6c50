"""Every change to client data: create, update, delete, tags, merge, and the CSV import.

Services run in the current tenant context (a request, or `tenant_context(...)` in a task)
and check that it is the tenant they were given: RLS scopes every statement to it, the
explicit tenant filters are the second belt. Each service owns its transaction (a savepoint
inside a request), so a failure leaves nothing half-written.
"""

from __future__ import annotations

import copy
import datetime
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Value
from django.db.models.base import DEFERRED
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.utils import timezone

from brandvx.errors import BrandVXError
from clients import consent, csv_format, suppression
from clients.conf import limit
from clients.matching import find_existing_client
from clients.models import Client, ClientExternalId, ClientImport, ClientTag, ConsentOrigin, Source, Tag
from clients.normalize import contact_hash, normalize_email, normalize_phone
from tenants import jobs
from tenants.bulk import copy_insert, copy_update
from tenants.changes import Actor, record_change, record_changes_each
from tenants.context import require_tenant
from tenants.models import BackgroundJob, Tenant, User

logger = logging.getLogger("brandvx.clients")

IMPORT_JOB_KIND = "clients.import_csv"
CONSENT_CHANNELS = consent.CHANNELS
# Fields a caller may set on a client; everything else is derived (hashes, consent times).
WRITABLE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "phone_extension",
    "birthday_month",
    "birthday_day",
    "birth_year",
    "notes",
    "source",
    "email_consent",
    "sms_consent",
)


class ClientNotFound(BrandVXError):
    status_code = 404
    code = "not_found"
    default_detail = "No such client."


class TagNotFound(BrandVXError):
    status_code = 404
    code = "tag_not_found"
    default_detail = "The client has no such tag."


class MergeInvalid(BrandVXError):
    code = "invalid_merge"
    default_detail = "These clients cannot be merged."


def _get_client(tenant: Tenant, client_id: uuid.UUID, *, lock: bool = False) -> Client:
    queryset = Client.objects.filter(tenant_id=tenant.id)
    if lock:
        queryset = queryset.select_for_update()
    try:
        return queryset.get(id=client_id)
    except (Client.DoesNotExist, ValidationError):
        raise ClientNotFound() from None


# --- create / update / delete ------------------------------------------------------------


def _validate_birthday(client: Client) -> None:
    month, day, year = client.birthday_month, client.birthday_day, client.birth_year
    if month is None and day is None:
        if year is not None:
            raise ValidationError({"birth_year": ["A birth year needs a birthday month and day."]})
        return
    if month is None or day is None:
        missing = "birthday_month" if month is None else "birthday_day"
        raise ValidationError({missing: ["Give both the birthday month and day, or neither."]})
    if not 1 <= month <= 12:
        raise ValidationError({"birthday_month": ["Must be 1 to 12."]})
    try:
        datetime.date(year or 2000, month, day)  # 2000 is a leap year: Feb 29 is a valid birthday
    except ValueError:
        field_name = "birthday_day" if year is None or (month, day) != (2, 29) else "birth_year"
        raise ValidationError({field_name: [f"{month}/{day}{f'/{year}' if year else ''} is not a date."]}) from None
    if year is not None and not 1900 <= year <= timezone.now().year:
        raise ValidationError({"birth_year": [f"Must be between 1900 and {timezone.now().year}."]})


def _consent_decisions(data: Mapping[str, Any]) -> dict[str, bool | None]:
    """The consent decisions in written data ({"email": True, ...}); recorded by clients.consent."""
    return {
        channel: (bool(data[f"{channel}_consent"]) if data.get(f"{channel}_consent") is not None else None)
        for channel in CONSENT_CHANNELS
        if f"{channel}_consent" in data
    }


def _apply(client: Client, data: Mapping[str, Any], *, tenant: Tenant, normalized: bool = False) -> set[str]:
    """Set the given fields on `client` (normalizing contacts; `normalized`: the email and
    phone are normalized already, as a ContactRecord's are: only their hashes are computed).
    Consent keys are not set here: the caller records them in the ledger (clients.consent)
    once the client is saved. Returns the names of the fields that changed. Raises
    ValidationError naming fields."""
    unknown = set(data) - set(WRITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not writable client fields: {sorted(unknown)}")
    errors: dict[str, list[str]] = {}
    values = {k: v for k, v in data.items() if k not in ("email_consent", "sms_consent")}
    if normalized:
        for name in ("email", "phone"):
            if name in values:
                values[f"{name}_hash"] = contact_hash(values[name])
    elif "email" in values:
        try:
            values["email"] = normalize_email(values["email"])
            values["email_hash"] = contact_hash(values["email"])
        except ValidationError:
            errors["email"] = ["Enter a valid email address."]
    if "phone" in values and not normalized:
        try:
            values["phone"] = normalize_phone(values["phone"], region=tenant.country)
            values["phone_hash"] = contact_hash(values["phone"])
        except ValidationError:
            errors["phone"] = [f"Enter a valid phone number (international, or a {tenant.country} number)."]
    for name in ("first_name", "last_name"):
        if name in values:
            values[name] = " ".join((values[name] or "").split())
    if "phone_extension" in values:
        values["phone_extension"] = "".join((values["phone_extension"] or "").split())[:20]
    if "source" in values and values["source"] not in Source.values:
        errors["source"] = [f"One of: {', '.join(Source.values)}."]
    if errors:
        raise ValidationError(errors)
    changed: set[str] = set()
    for name, value in values.items():
        if getattr(client, name) != value:
            setattr(client, name, value)
            changed.add(name)
    _validate_birthday(client)
    return changed


def client_check(*, tenant: Tenant, client: Client, data: Mapping[str, Any]) -> None:
    """Raise the ValidationError (naming fields) that client_update would raise for `data`;
    changes nothing. For forms that validate before saving (the support admin)."""
    _apply(copy.copy(client), data, tenant=tenant)


def client_create(*, tenant: Tenant, data: Mapping[str, Any], acting_user: User | None = None) -> Client:
    require_tenant(tenant)
    client = Client(tenant=tenant)
    _apply(client, data, tenant=tenant)
    with transaction.atomic():
        consent.consent_record(
            tenant=tenant,
            client=client,
            decisions=_consent_decisions(data),
            origin=ConsentOrigin.API_USER,
            acting_user=acting_user,
        )
        client.save()
        record_change(tenant=tenant, actor=acting_user, action="client.created", obj=client)
    return client


def client_update(
    *, tenant: Tenant, client_id: uuid.UUID, data: Mapping[str, Any], acting_user: User | None = None
) -> Client:
    require_tenant(tenant)
    with transaction.atomic():
        # Locked: two edits racing on a consent flag must not both miss the change.
        client = _get_client(tenant, client_id, lock=True)
        changed = _apply(client, data, tenant=tenant)
        if changed:
            client.save(update_fields=[*changed, "updated_at"])
        changed |= consent.consent_record(
            tenant=tenant,
            client=client,
            decisions=_consent_decisions(data),
            origin=ConsentOrigin.API_USER,
            acting_user=acting_user,
        )
        if changed:
            record_change(tenant=tenant, actor=acting_user, action="client.updated", obj=client, fields=changed)
    return client


def client_delete(*, tenant: Tenant, client_id: uuid.UUID, acting_user: User | None = None) -> None:
    """Appointments and transactions keep their amounts (their client becomes empty)."""
    require_tenant(tenant)
    with transaction.atomic():
        client = _get_client(tenant, client_id, lock=True)
        record_change(tenant=tenant, actor=acting_user, action="client.deleted", obj=client)
        client.delete()


# --- tags --------------------------------------------------------------------------------


def clean_tag_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValidationError({"name": ["A tag needs a name."]})
    if len(cleaned) > csv_format.TAG_MAX_LENGTH:
        raise ValidationError({"name": [f"At most {csv_format.TAG_MAX_LENGTH} characters."]})
    if "/" in cleaned:
        raise ValidationError({"name": ["A tag name cannot contain '/' (it is part of the tag's URL)."]})
    return cleaned


def _tags_named(tenant: Tenant, name: str) -> models.QuerySet[Tag]:
    # lower(name) = lower(%s): the same expression as the unique index, so the index serves it.
    return Tag.objects.alias(name_lower=Lower("name")).filter(tenant_id=tenant.id, name_lower=Lower(Value(name)))


def tag_get_or_create(*, tenant: Tenant, name: str) -> Tag:
    name = clean_tag_name(name)
    tag = _tags_named(tenant, name).first()
    if tag is not None:
        return tag
    try:
        with transaction.atomic():
            return Tag.objects.create(tenant=tenant, name=name)
    except IntegrityError:  # created concurrently under another spelling of the same name
        return _tags_named(tenant, name).get()


def _client_tag_add(tenant: Tenant, client: Client, name: str) -> tuple[ClientTag, bool]:
    tag = tag_get_or_create(tenant=tenant, name=name)
    existing = ClientTag.objects.filter(tenant_id=tenant.id, client=client, tag=tag).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return ClientTag.objects.create(tenant=tenant, client=client, tag=tag), True
    except IntegrityError:
        return ClientTag.objects.get(tenant_id=tenant.id, client=client, tag=tag), False


def client_tag_add(
    *, tenant: Tenant, client_id: uuid.UUID, name: str, acting_user: User | None = None
) -> tuple[ClientTag, bool]:
    """Tag a client; idempotent. Returns (the link, whether it was created now)."""
    require_tenant(tenant)
    with transaction.atomic():
        client = _get_client(tenant, client_id)
        link, created = _client_tag_add(tenant, client, name)
        if created:
            record_change(tenant=tenant, actor=acting_user, action="client.tag_added", obj=client, fields=["tags"])
        return link, created


def client_tag_remove(*, tenant: Tenant, client_id: uuid.UUID, name: str, acting_user: User | None = None) -> None:
    """Untag a client. The tag itself stays (other clients, or later use). TagNotFound if the
    client does not carry it."""
    require_tenant(tenant)
    with transaction.atomic():
        client = _get_client(tenant, client_id)
        tag = _tags_named(tenant, " ".join((name or "").split())).first()
        deleted = ClientTag.objects.filter(tenant_id=tenant.id, client=client, tag=tag).delete()[0] if tag else 0
        if not deleted:
            raise TagNotFound()
        record_change(tenant=tenant, actor=acting_user, action="client.tag_removed", obj=client, fields=["tags"])


# --- merge -------------------------------------------------------------------------------


@dataclass
class MergeResult:
    client: Client
    moved: dict[str, int] = field(default_factory=dict)
    # Rows that could not move because the target already has their equivalent (a unique
    # constraint on the target); they go with the source, per their on_delete.
    conflicts: dict[str, int] = field(default_factory=dict)


def _move_relation(tenant: Tenant, relation, source: Client, target: Client) -> tuple[int, int]:
    model, fk = relation.related_model, relation.field
    queryset = model._base_manager.filter(**{fk.name: source})
    if any(f.name == "tenant" for f in model._meta.concrete_fields):
        queryset = queryset.filter(tenant_id=tenant.id)
    try:
        with transaction.atomic():
            return queryset.update(**{fk.name: target}), 0
    except IntegrityError:
        pass
    # Some row collides with one of the target's: move the others one by one.
    moved = conflicts = 0
    for pk in list(queryset.values_list("pk", flat=True)):
        try:
            with transaction.atomic():
                moved += model._base_manager.filter(pk=pk).update(**{fk.name: target})
        except IntegrityError:
            conflicts += 1
    return moved, conflicts


def _merge_fields(target: Client, source: Client) -> None:
    """Keep the target's values; fill its blanks from the source; keep both notes."""
    for name in ("first_name", "last_name"):
        if not getattr(target, name) and getattr(source, name):
            setattr(target, name, getattr(source, name))
    for name in ("email", "phone"):
        if not getattr(target, name) and getattr(source, name):
            setattr(target, name, getattr(source, name))
            setattr(target, f"{name}_hash", getattr(source, f"{name}_hash"))
    if target.birthday_month is None and source.birthday_month is not None:
        target.birthday_month, target.birthday_day, target.birth_year = (
            source.birthday_month,
            source.birthday_day,
            source.birth_year,
        )
    elif (
        target.birth_year is None
        and source.birth_year is not None
        and (target.birthday_month, target.birthday_day) == (source.birthday_month, source.birthday_day)
    ):
        target.birth_year = source.birth_year
    source_notes = source.notes.strip()
    if source_notes and source_notes not in target.notes:
        target.notes = f"{target.notes.rstrip()}\n\n{source_notes}" if target.notes.strip() else source_notes
    # Consent is not merged field by field: clients.consent.consent_merge copies the source's
    # decisions into the target's ledger, where a withdrawal outranks an older grant.


def client_merge(
    *, tenant: Tenant, source_id: uuid.UUID, target_id: uuid.UUID, acting_user: User | None = None
) -> MergeResult:
    """Merge `source` into `target` and delete `source`. Everything that points at the source
    (tags, external ids, appointments, transactions, and any relation added later: the
    Client model's reverse relations are walked, not listed) moves to the target."""
    require_tenant(tenant)
    if source_id == target_id:
        raise MergeInvalid("A client cannot be merged into itself.", extra={"parameter": "target"})
    with transaction.atomic():
        # Both rows locked, in id order, so two merges of the same pair cannot deadlock.
        locked = {
            c.id: c
            for c in Client.objects.select_for_update()
            .filter(tenant_id=tenant.id, id__in=[source_id, target_id])
            .order_by("id")
        }
        if source_id not in locked or target_id not in locked:
            raise ClientNotFound()
        source, target = locked[source_id], locked[target_id]
        result = MergeResult(client=target)

        # Tags: a tag both carry stays once, on the target.
        target_tags = ClientTag.objects.filter(tenant_id=tenant.id, client=target).values("tag_id")
        ClientTag.objects.filter(tenant_id=tenant.id, client=source, tag_id__in=target_tags).delete()
        for relation in Client._meta.related_objects:
            if relation.many_to_many:
                continue
            moved, conflicts = _move_relation(tenant, relation, source, target)
            label = relation.related_model._meta.label_lower
            if moved:
                result.moved[label] = moved
            if conflicts:
                result.conflicts[label] = conflicts

        _merge_fields(target, source)
        target.save()
        consent.consent_merge(tenant=tenant, target=target, source=source)
        record_change(tenant=tenant, actor=acting_user, action="client.merged", obj=target)
        record_change(
            tenant=tenant, actor=acting_user, action="client.merged_away", object_type="client", object_id=source.id
        )
        source.delete()
    logger.info(
        "client merged", extra={"tenant_id": str(tenant.id), "source_id": str(source_id), "target_id": str(target_id)}
    )
    return result


# --- the one client upsert (CSV import, provider imports, custom CRM push) ---------------


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


@dataclass
class UpsertResult:
    client: Client
    outcome: str  # "created", "updated" or "unchanged"
    # Of several profiles of `source` linked to this client, the one that owns its fields; ""
    # when the record's profile is the only one (or the owner itself).
    owner_external_id: str = ""


def _profile_key(external_id: str, created_at: datetime.datetime | None):
    # Oldest first; a profile whose creation time we do not know after every dated one; then
    # the smallest id: the same answer on every run, whatever order the provider lists them in.
    return (created_at is None, created_at or datetime.datetime.min.replace(tzinfo=datetime.UTC), external_id)


def profile_owner(profiles: Mapping[str, datetime.datetime | None]) -> str:
    """The external id that owns a client among its profiles of one provider
    ({external id: the provider's created_at}): the oldest, then the smallest id."""
    return min(profiles.items(), key=lambda item: _profile_key(*item))[0] if profiles else ""


def client_profiles(client: Client, source: str) -> dict[str, datetime.datetime | None]:
    """{external id: provider_created_at} of `client`'s profiles of `source`."""
    if client._state.adding:
        return {}
    return dict(
        ClientExternalId.objects.filter(client=client, provider=source).values_list(
            "external_id", "provider_created_at"
        )
    )


def _owner_for(record: ContactRecord, profiles: Mapping[str, datetime.datetime | None]) -> str:
    """The owner once `record`'s profile is linked too."""
    if not record.external_id:
        return profile_owner(profiles)
    return profile_owner({**profiles, record.external_id: profiles.get(record.external_id, record.provider_created_at)})


def _consent_origin(source: str) -> str:
    return ConsentOrigin.CSV_IMPORT if source == Source.CSV else ConsentOrigin.PROVIDER_IMPORT


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
      email), only the owner (`profile_owner`: the oldest) keeps it current; the others only
      fill blanks, so they do not overwrite each other on every sync.
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


def client_upsert_is_unchanged(
    client: Client, record: ContactRecord, *, source: str, profile_owner: bool = True
) -> bool:
    """True when `client_upsert` of `record` into this (already linked) client would write
    nothing: lets an importer skip an unchanged record without a query. `profile_owner`:
    whether the record's profile owns the client (see client_upsert)."""
    if client.archived_at is not None:
        return False  # a live profile of an archived client brings it back
    if client_upsert_changes(client, record, source=source, profile_owner=profile_owner):
        return False
    origin = _consent_origin(source)
    return not any(
        granted is not None and consent.would_record(client, channel, granted, origin)
        for channel, granted in (("email", record.email_consent), ("sms", record.sms_consent))
    )


def client_upsert(
    *,
    tenant: Tenant,
    source: str,
    record: ContactRecord,
    link: bool = True,
    client: Client | None = None,
    match_external_id: bool = True,
    tags: list[Tag] | tuple[()] = (),
    now: datetime.datetime | None = None,
    profiles: Mapping[str, datetime.datetime | None] | None = None,
) -> UpsertResult:
    """Find the client `record` describes, or create it, and bring it up to date: the one path
    by which imports (CSV, Square, Acuity, HubSpot, custom CRM) write clients.

    Matching, in order: `source`'s external id (`record.external_id`), then the email hash,
    then the phone hash (clients.matching); a match is linked to the external id, not
    duplicated. `client`: the client the caller already matched by external id (an
    importer's prefetch); `match_external_id=False`: the caller already knows the id is not
    linked. `link=False` for records whose ids are not a person's (Acuity appointments).
    Fields follow `client_upsert_changes`; consent decisions go to the ledger under the
    import rules of clients.consent (an import never undoes a withdrawal). Runs in the
    caller's transaction (a savepoint per record); raises ValidationError naming a field.

    One owner per client per provider: when the client has other profiles of `source`, the
    oldest profile (`profile_owner`) keeps the client's fields current and the others only
    fill blanks; the result names the owner for a record that is not it (a duplicate
    candidate). `profiles`: the client's profiles of `source` when the caller already loaded
    them. A linked profile of an archived client brings the client back (archived_at cleared).
    """
    require_tenant(tenant)
    how = "external_id" if client is not None else ""
    if client is None:
        by_external_id = link and match_external_id and bool(record.external_id)
        client, how = find_existing_client(
            provider=source if by_external_id else None,
            external_id=record.external_id if by_external_id else None,
            email_hash=record.email_hash,
            phone_hash=record.phone_hash,
        )
    created = client is None
    if created:
        client = Client(tenant=tenant, source=source)
    owner = ""
    if link and record.external_id and source != Source.CSV and not created:
        owner = _owner_for(record, client_profiles(client, source) if profiles is None else profiles)
    is_owner = owner in ("", record.external_id)
    changed = _apply(
        client, client_upsert_changes(client, record, source=source, profile_owner=is_owner), tenant=tenant
    )
    if link and record.external_id and client.archived_at is not None:
        client.archived_at = None
        changed.add("archived_at")

    def record_consent() -> set[str]:
        return consent.consent_record(
            tenant=tenant,
            client=client,
            decisions={"email": record.email_consent, "sms": record.sms_consent},
            origin=_consent_origin(source),
            provider=source,
            decided_at=now,
        )

    if created:
        record_consent()  # a new client's consent fields are set before its one INSERT
        client.save()
    else:
        if changed:
            client.save(update_fields=[*changed, "updated_at"])
        changed |= record_consent()
    if link and record.external_id and how != "external_id":
        # Not matched by it, so it is not linked yet. ON CONFLICT DO NOTHING: an import
        # running at the same time may have just linked it.
        ClientExternalId.objects.bulk_create(
            [
                ClientExternalId(
                    tenant=tenant,
                    client=client,
                    provider=source,
                    external_id=record.external_id,
                    provider_created_at=record.provider_created_at,
                )
            ],
            ignore_conflicts=True,
        )
        changed.add("external_id")
    if tags:
        carried = (
            set()
            if created
            else set(
                ClientTag.objects.filter(tenant_id=tenant.id, client=client, tag__in=tags).values_list(
                    "tag_id", flat=True
                )
            )
        )
        missing = [tag for tag in tags if tag.id not in carried]
        if missing:
            ClientTag.objects.bulk_create(
                [ClientTag(tenant=tenant, client=client, tag=tag) for tag in missing], ignore_conflicts=True
            )
            changed.add("tags")
    if created or changed:
        record_change(
            tenant=tenant,
            actor=_import_actor(source),
            action="client.created" if created else "client.updated",
            obj=client,
            fields=() if created else changed,
        )
    return UpsertResult(
        client=client,
        outcome="created" if created else ("updated" if changed else "unchanged"),
        owner_external_id="" if is_owner else owner,
    )


# Client columns the set-based upsert writes (a created client: all of them; an updated one:
# those it changes, plus updated_at).
_UPSERT_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "phone_extension",
    "email_hash",
    "phone_hash",
    "birthday_month",
    "birthday_day",
    "birth_year",
    "notes",
    "source",
    "email_consent",
    "email_consent_at",
    "sms_consent",
    "sms_consent_at",
    "archived_at",
    "created_at",
    "updated_at",
)


@dataclass
class _Pool:
    """The clients a batch of records may match, in memory, kept as the batch changes them:
    what `find_existing_client` would find for each record, in order, had the records before
    it been written one by one."""

    clients: dict[uuid.UUID, Client] = field(default_factory=dict)
    links: dict[str, Client] = field(default_factory=dict)  # the source's external id -> client
    by_email: dict[str, list[Client]] = field(default_factory=dict)
    by_phone: dict[str, list[Client]] = field(default_factory=dict)

    def add(self, client: Client) -> Client:
        client = self.clients.setdefault(client.id, client)
        self.index(client)
        return client

    def index(self, client: Client) -> None:
        for hash_value, index in ((client.email_hash, self.by_email), (client.phone_hash, self.by_phone)):
            if hash_value and client not in index.setdefault(hash_value, []):
                index[hash_value].append(client)

    @staticmethod
    def _oldest(candidates: list[Client], attribute: str, hash_value: str) -> Client | None:
        alive = [c for c in candidates if getattr(c, attribute) == hash_value]
        return min(alive, key=lambda c: c.created_at) if alive else None

    def find(self, record: ContactRecord, email_hash: str, phone_hash: str) -> tuple[Client | None, str]:
        """`clients.matching.find_existing_client`'s order: external id, email, phone (the
        record's hashes given, computed once)."""
        if record.external_id and record.external_id in self.links:
            return self.links[record.external_id], "external_id"
        if email_hash:
            client = self._oldest(self.by_email.get(email_hash, []), "email_hash", email_hash)
            if client is not None:
                return client, "email"
        if phone_hash:
            client = self._oldest(self.by_phone.get(phone_hash, []), "phone_hash", phone_hash)
            if client is not None:
                return client, "phone"
        return None, ""


def _any(table: str, column: str, values: list[Any]) -> models.Q:
    """`table.column = ANY(%s)`: a filter with the list as one array parameter (Django's
    `__in` sends one placeholder per value); false for an empty list, like `__in=[]`."""
    return models.Q(
        RawSQL(f'"{table}"."{column}" = ANY(%s)', (values,), output_field=models.BooleanField())
        if values
        else models.Value(False)
    )


def _client_maker(tenant: Tenant, source: str) -> Callable[[datetime.datetime], Client]:
    """A function making the unsaved `Client(tenant=tenant, source=source, created_at=at,
    updated_at=at)` of a new record: the same instance, built from positional values (a
    third of the cost of keyword arguments, which check every field by name)."""
    template = Client(tenant=tenant, source=source)
    fields = Client._meta.concrete_fields
    values = [template.__dict__.get(f.attname, DEFERRED) for f in fields]  # DEFERRED: generated
    pk, created, updated = (
        next(i for i, f in enumerate(fields) if f.attname == name) for name in ("id", "created_at", "updated_at")
    )
    pk_default = Client._meta.pk.get_default
    cache_tenant = Client._meta.get_field("tenant").set_cached_value

    def make(at: datetime.datetime) -> Client:
        own = values.copy()
        own[pk], own[created], own[updated] = pk_default(), at, at
        client = Client(*own)
        cache_tenant(client, tenant)
        return client

    return make


def client_upsert_many(
    *,
    tenant: Tenant,
    source: str,
    items: list[tuple[ContactRecord, list[Tag]]],
    now: datetime.datetime,
) -> list[str | ValidationError]:
    """`client_upsert` of many records at once, written set-based: the same matching, the same
    field rules (`client_upsert_changes`), the same consent rules (clients.consent) and the
    same change records, decided in memory record by record (a record sees what the records
    before it did, as if they had been written one by one), then written with one statement
    per table (tenants.bulk: COPY into a temporary table, INSERT ... SELECT / UPDATE ... FROM).

    Returns, per item, its outcome ("created", "updated", "unchanged") or the ValidationError
    that failed it (nothing of that record is written). For the CSV import only: a provider's
    several profiles per client (profile owners) are decided by `client_upsert`. Runs in the
    caller's transaction; an IntegrityError leaves nothing written (the caller's savepoint)."""
    require_tenant(tenant)
    if source != Source.CSV:
        raise ValueError("client_upsert_many decides CSV records only (no provider profile owners)")
    pool = _Pool()
    # Each record's hashes, once (ContactRecord computes them on every access).
    hashes = [(record.email_hash, record.phone_hash) for record, _ in items]
    external_ids = sorted({record.external_id for record, _ in items if record.external_id})
    email_hashes = sorted({email_hash for email_hash, _ in hashes if email_hash})
    phone_hashes = sorted({phone_hash for _, phone_hash in hashes if phone_hash})
    # `= ANY(array)`: one parameter per list, not one per value (a thousand placeholders cost
    # more to send and parse than the index lookups themselves).
    if external_ids:
        for link in ClientExternalId.objects.select_related("client").filter(
            _any("clients_clientexternalid", "external_id", external_ids), tenant_id=tenant.id, provider=source
        ):
            pool.links[link.external_id] = pool.add(link.client)
    if email_hashes or phone_hashes:
        for client in Client.objects.filter(
            _any("clients_client", "email_hash", email_hashes) | _any("clients_client", "phone_hash", phone_hashes),
            tenant_id=tenant.id,
        ):
            pool.add(client)
    existing = set(pool.clients)
    deciding = any(record.email_consent is not None or record.sms_consent is not None for record, _ in items)
    known_events = consent.consent_events_of(tenant=tenant, client_ids=existing if deciding else ())
    # Who is on the suppression list (clients.erasure), asked once for the batch: every address
    # a client may end with (the record's own or the one it already has).
    suppressed_emails: set[str] = set()
    suppressed_phones: set[str] = set()
    if deciding:
        emails = {r.email for r, _ in items if r.email} | {c.email for c in pool.clients.values() if c.email}
        phones = {r.phone for r, _ in items if r.phone} | {c.phone for c in pool.clients.values() if c.phone}
        people = [(email, "") for email in emails] + [("", phone) for phone in phones]
        for email, phone in suppression.suppressed(tenant=tenant, people=people):
            if email:
                suppressed_emails.add(email)
            if phone:
                suppressed_phones.add(phone)
    tag_ids = {tag.id for _, tags in items for tag in tags}
    carried: set[tuple[uuid.UUID, uuid.UUID]] = set()
    if tag_ids and existing:
        carried = set(
            ClientTag.objects.filter(
                _any("clients_clienttag", "client_id", sorted(existing)), tenant_id=tenant.id, tag_id__in=tag_ids
            ).values_list("client_id", "tag_id")
        )
    origin = _consent_origin(source)
    created_ids: list[uuid.UUID] = []
    dirty: dict[uuid.UUID, set[str]] = {}
    new_links: list[tuple[Any, ...]] = []
    new_tags: list[tuple[Any, ...]] = []
    new_events: list[Any] = []
    changes: list[tuple[str, str, Any, Iterable[str]]] = []
    results: list[str | ValidationError] = []
    step = datetime.timedelta(microseconds=1)
    new_client = _client_maker(tenant, source)
    for n, (record, tags) in enumerate(items):
        client, how = pool.find(record, *hashes[n])
        created = client is None
        if client is None:
            client = new_client(now + n * step)
            before = None
        else:
            before = dict(client.__dict__)
        try:
            changes_of_record = client_upsert_changes(client, record, source=source)
            changed = _apply(client, changes_of_record, tenant=tenant, normalized=True)
        except ValidationError as exc:
            if before is not None:
                client.__dict__.update(before)  # as the row's savepoint would have rolled back
            results.append(exc)
            continue
        if created:
            pool.add(client)
            created_ids.append(client.id)
        else:
            pool.index(client)
        if record.external_id and client.archived_at is not None:
            client.archived_at = None
            changed.add("archived_at")
        events, consent_changed = consent.consent_decide(
            tenant=tenant,
            client=client,
            known_events=known_events.setdefault(client.id, []),
            decisions={"email": record.email_consent, "sms": record.sms_consent},
            origin=origin,
            provider=source,
            decided_at=now,
            suppressed=client.email in suppressed_emails or client.phone in suppressed_phones,
        )
        new_events.extend(events)
        changed |= consent_changed
        if not created and changed:
            dirty.setdefault(client.id, set()).update(changed & set(_UPSERT_COLUMNS))
        if record.external_id and how != "external_id":
            new_links.append(
                (uuid.uuid4(), tenant.id, client.id, source, record.external_id, record.provider_created_at, now)
            )
            pool.links[record.external_id] = client
            changed.add("external_id")
        missing = [tag for tag in tags if (client.id, tag.id) not in carried]
        if missing:
            for tag in missing:
                carried.add((client.id, tag.id))
                new_tags.append((tenant.id, client.id, tag.id))
            changed.add("tags")
        if created:
            changes.append(("client.created", "client", client.id, ()))
        elif changed:
            changes.append(("client.updated", "client", client.id, changed))
        results.append("created" if created else ("updated" if changed else "unchanged"))
    _upsert_write(tenant, pool, created_ids, dirty, now)
    copy_insert(
        ClientExternalId,
        ("id", "tenant_id", "client_id", "provider", "external_id", "provider_created_at", "created_at"),
        new_links,
        conflict_ignore=True,  # an import running at the same time may have just linked it
    )
    _client_tags_write(new_tags, now)
    consent.consent_events_write(new_events)
    record_changes_each(tenant=tenant, actor=_import_actor(source), entries=changes, occurred_at=now)
    return results


def _upsert_write(
    tenant: Tenant,
    pool: _Pool,
    created_ids: list[uuid.UUID],
    dirty: dict[uuid.UUID, set[str]],
    now: datetime.datetime,
) -> None:
    def values(client: Client) -> tuple[Any, ...]:
        return tuple(getattr(client, column) for column in _UPSERT_COLUMNS)

    copy_insert(
        Client, ("id", "tenant_id", *_UPSERT_COLUMNS), [(c, tenant.id, *values(pool.clients[c])) for c in created_ids]
    )
    updated = [(client_id, fields) for client_id, fields in dirty.items() if fields]
    for client_id, _fields in updated:
        pool.clients[client_id].updated_at = now
    copy_update(
        Client,
        ("tenant_id", "id"),
        _UPSERT_COLUMNS,
        [((tenant.id, client_id, *values(pool.clients[client_id])), fields) for client_id, fields in updated],
        always=("updated_at",),
    )


def _client_tags_write(rows: list[tuple[Any, ...]], now: datetime.datetime) -> None:
    """(tenant id, client id, tag id) links, ON CONFLICT DO NOTHING (an import at the same time)."""
    copy_insert(
        ClientTag,
        ("id", "tenant_id", "client_id", "tag_id", "created_at"),
        [(uuid.uuid4(), *row, now) for row in rows],
        conflict_ignore=True,
    )


def _import_actor(source: str) -> Actor:
    return Actor.system("csv import") if source == Source.CSV else Actor.provider(source)


def client_provider_deleted(
    *, tenant: Tenant, provider: str, external_id: str, now: datetime.datetime | None = None
) -> str:
    """A provider deleted one of its profiles: unlink it, and archive the client when that
    profile was all that kept it (the provider created it and no other profile is linked).
    Its appointments, transactions and history stay. Returns "archived", "unlinked" or
    "not linked" (we never had it, or already handled)."""
    require_tenant(tenant)
    with transaction.atomic():
        link = (
            ClientExternalId.objects.select_for_update()
            .select_related("client")
            .filter(provider=provider, external_id=external_id)
            .first()
        )
        if link is None:
            return "not linked"
        client = link.client
        link.delete()
        if client.source == provider and not ClientExternalId.objects.filter(client=client).exists():
            if client.archived_at is None:
                client.archived_at = now or timezone.now()
                client.save(update_fields=["archived_at", "updated_at"])
                record_change(
                    tenant=tenant,
                    actor=Actor.provider(provider),
                    action="client.archived",
                    obj=client,
                    fields=["archived_at"],
                )
            return "archived"
        record_change(
            tenant=tenant, actor=Actor.provider(provider), action="client.unlinked", obj=client, fields=["external_ids"]
        )
    return "unlinked"


# --- CSV import --------------------------------------------------------------------------


def client_import_csv_start(
    *, tenant: Tenant, data: bytes, filename: str = "", acting_user: User | None = None
) -> BackgroundJob:
    """Check an uploaded CSV (size, encoding, header, row count: CsvRejected names the
    reason), keep it, and queue the import job. The job is enqueued after commit."""
    require_tenant(tenant)
    max_bytes = limit("CLIENTS_IMPORT_MAX_BYTES")
    if len(data) > max_bytes:
        raise csv_format.CsvRejected("too_large", f"The file is {len(data)} bytes; the limit is {max_bytes} bytes.")
    text = csv_format.decode_upload(data)
    layout = csv_format.read_layout(text)
    rows = csv_format.count_records(text, layout, max_rows=limit("CLIENTS_IMPORT_MAX_ROWS"))
    if rows == 0:
        raise csv_format.CsvRejected("no_rows", "The file has a header row but no client rows.")

    def enqueue(job: BackgroundJob) -> None:
        from clients.tasks import client_import_csv_task

        client_import_csv_task.delay(str(tenant.id), str(job.id))

    with transaction.atomic():
        job = jobs.job_create(
            tenant=tenant,
            kind=IMPORT_JOB_KIND,
            started_by=acting_user,
            enqueue=enqueue,
            params={
                "filename": filename[:255],
                "rows": rows,
                "size_bytes": len(data),
                "columns": {column: index for column, index in layout.columns.items()},
                "ignored_columns": layout.ignored,
            },
        )
        ClientImport.objects.create(
            tenant=tenant, job=job, filename=filename[:255], content=text, size_bytes=len(data), row_count=rows
        )
        BackgroundJob.objects.filter(id=job.id).update(progress_total=rows)
        job.progress_total = rows
    return job
