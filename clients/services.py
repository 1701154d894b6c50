"""Every change to client data: create, update, delete, tags, merge, and the CSV import.

Services take the tenant (`*, tenant`), run in its context (a request, or `tenant_context(...)`
in a task) and check that it is the one they were given: RLS scopes every statement to it,
`for_tenant` / `get_in_tenant` name it as the second belt. Each service owns its transaction
(a savepoint inside a request), so a failure leaves nothing half-written. Mistakes in what a
service is asked raise `common.errors` (InvalidInput naming the fields, NotFound); the
per-record upserts of imports report Django's ValidationError per record instead (see
client_upsert), which the importers count and list as the record's failure.
"""

from __future__ import annotations

import copy
import datetime
import logging
import operator
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

from clients import consent, csv_format, suppression
from clients.conf import limit
from clients.matching import find_existing_client
from clients.models import (
    PHONE_EXTENSION_MAX_LENGTH,
    Client,
    ClientExternalId,
    ClientImport,
    ClientTag,
    ConsentOrigin,
    Source,
    Tag,
)
from clients.normalize import contact_hash, normalize_email, normalize_phone
from clients.records import ContactRecord
from clients.rules import ImportOutcome, clean_tag_name, client_upsert_changes, owning_profile
from common.errors import InvalidInput, NotFound
from tenants import jobs
from tenants.changes import Actor, record_change, record_changes_each
from tenants.context import require_tenant
from tenants.db.bulk import copy_insert, copy_update
from tenants.models import BackgroundJob, Tenant, User, for_tenant, get_in_tenant

logger = logging.getLogger("brandvx.clients")

IMPORT_JOB_KIND = "clients.import_csv"
# The task that runs an import job (clients.tasks.client_import_csv_task), enqueued by its name:
# the task calls the import's runner, which calls these services.
IMPORT_TASK_NAME = "clients.import_csv"
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


class TagNotFound(NotFound):
    code = "tag_not_found"
    default_detail = "The client has no such tag."


class MergeInvalid(InvalidInput):
    code = "invalid_merge"
    default_detail = "These clients cannot be merged."


def _invalid_input(exc: ValidationError) -> InvalidInput:
    """Django's ValidationError of the field rules (normalize, _apply) as the domain's
    InvalidInput naming the same fields."""
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    return InvalidInput(fields=fields)


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
        values["phone_extension"] = "".join((values["phone_extension"] or "").split())[:PHONE_EXTENSION_MAX_LENGTH]
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
    """Raise the InvalidInput (naming fields) that client_update would raise for `data`;
    changes nothing. For forms that validate before saving (the support admin)."""
    try:
        _apply(copy.copy(client), data, tenant=tenant)
    except ValidationError as exc:
        raise _invalid_input(exc) from None


def client_create(*, tenant: Tenant, data: Mapping[str, Any], acting_user: User | None = None) -> Client:
    """InvalidInput naming the fields when `data` breaks a field rule."""
    require_tenant(tenant)
    client = Client(tenant=tenant)
    try:
        _apply(client, data, tenant=tenant)
    except ValidationError as exc:
        raise _invalid_input(exc) from None
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
    """NotFound when the tenant has no such client; InvalidInput naming the fields when `data`
    breaks a field rule."""
    require_tenant(tenant)
    with transaction.atomic():
        # Locked: two edits racing on a consent flag must not both miss the change.
        client = get_in_tenant(Client, client_id, tenant=tenant, lock=True)
        try:
            changed = _apply(client, data, tenant=tenant)
        except ValidationError as exc:
            raise _invalid_input(exc) from None
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
        client = get_in_tenant(Client, client_id, tenant=tenant, lock=True)
        record_change(tenant=tenant, actor=acting_user, action="client.deleted", obj=client)
        client.delete()


# --- tags --------------------------------------------------------------------------------


def _tags_named(tenant: Tenant, name: str) -> models.QuerySet[Tag]:
    # lower(name) = lower(%s): the same expression as the unique index, so the index serves it.
    return for_tenant(Tag.objects.all(), tenant).alias(name_lower=Lower("name")).filter(name_lower=Lower(Value(name)))


def tag_get_or_create(*, tenant: Tenant, name: str) -> Tag:
    """The tenant's tag `name` (any case), created if new; InvalidInput naming `name` when it
    is no tag name (rules.clean_tag_name)."""
    try:
        name = clean_tag_name(name)
    except ValueError as exc:
        raise InvalidInput("name", str(exc)) from None
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
    links = for_tenant(ClientTag.objects.all(), tenant).filter(client=client, tag=tag)
    existing = links.first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return ClientTag.objects.create(tenant=tenant, client=client, tag=tag), True
    except IntegrityError:
        return links.get(), False


def client_tag_add(
    *, tenant: Tenant, client_id: uuid.UUID, name: str, acting_user: User | None = None
) -> tuple[ClientTag, bool]:
    """Tag a client; idempotent. Returns (the link, whether it was created now). NotFound when
    the tenant has no such client; InvalidInput naming `name` when it is no tag name."""
    require_tenant(tenant)
    with transaction.atomic():
        client = get_in_tenant(Client, client_id, tenant=tenant)
        link, created = _client_tag_add(tenant, client, name)
        if created:
            record_change(tenant=tenant, actor=acting_user, action="client.tag_added", obj=client, fields=["tags"])
        return link, created


def client_tag_remove(*, tenant: Tenant, client_id: uuid.UUID, name: str, acting_user: User | None = None) -> None:
    """Untag a client. The tag itself stays (other clients, or later use). TagNotFound if the
    client does not carry it."""
    require_tenant(tenant)
    with transaction.atomic():
        client = get_in_tenant(Client, client_id, tenant=tenant)
        tag = _tags_named(tenant, " ".join((name or "").split())).first()
        deleted = for_tenant(ClientTag.objects.all(), tenant).filter(client=client, tag=tag).delete()[0] if tag else 0
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


def _move_relation(
    tenant: Tenant, relation: models.ForeignObjectRel, source: Client, target: Client
) -> tuple[int, int]:
    model, fk = relation.related_model, relation.field
    queryset = model._base_manager.filter(**{fk.name: source})
    if any(f.name == "tenant" for f in model._meta.concrete_fields):
        queryset = for_tenant(queryset, tenant)
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
    with transaction.atomic():
        # Both rows locked, in id order, so two merges of the same pair cannot deadlock.
        locked = {
            c.id: c
            for c in for_tenant(Client.objects.select_for_update(), tenant)
            .filter(id__in=[source_id, target_id])
            .order_by("id")
        }
        # Looked up in this tenant: another tenant's id is simply not found (and names the input).
        for name, client_id in (("source", source_id), ("target", target_id)):
            if client_id not in locked:
                raise NotFound(f"{name}: no such client in this tenant.")
        if source_id == target_id:
            raise MergeInvalid("target", "A client cannot be merged into itself.")
        source, target = locked[source_id], locked[target_id]
        result = MergeResult(client=target)

        # Tags: a tag both carry stays once, on the target.
        tags = for_tenant(ClientTag.objects.all(), tenant)
        target_tags = tags.filter(client=target).values("tag_id")
        tags.filter(client=source, tag_id__in=target_tags).delete()
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
class UpsertResult:
    client: Client
    outcome: ImportOutcome  # created, updated or unchanged
    # Of several profiles of `source` linked to this client, the one that owns its fields; ""
    # when the record's profile is the only one (or the owner itself).
    owner_external_id: str = ""


def _client_profiles(tenant: Tenant, client: Client, source: str) -> dict[str, datetime.datetime | None]:
    """{external id: provider_created_at} of `client`'s profiles of `source`."""
    if client._state.adding:
        return {}
    return dict(
        for_tenant(ClientExternalId.objects.all(), tenant)
        .filter(client=client, provider=source)
        .values_list("external_id", "provider_created_at")
    )


def _owner_for(record: ContactRecord, profiles: Mapping[str, datetime.datetime | None]) -> str:
    """The owner once `record`'s profile is linked too."""
    if not record.external_id:
        return owning_profile(profiles)
    return owning_profile(
        {**profiles, record.external_id: profiles.get(record.external_id, record.provider_created_at)}
    )


def _consent_origin(source: str) -> str:
    return ConsentOrigin.CSV_IMPORT if source == Source.CSV else ConsentOrigin.PROVIDER_IMPORT


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
    oldest profile (`rules.owning_profile`) keeps the client's fields current and the others only
    fill blanks; the result names the owner for a record that is not it (a duplicate
    candidate). `profiles`: the client's profiles of `source` when the caller already loaded
    them; with `client` and `profiles` given, a record that changes nothing costs no query
    (outcome "unchanged": what a provider import's re-sync relies on). A linked profile of an archived client brings the client back (archived_at cleared).
    """
    require_tenant(tenant)
    how = "external_id" if client is not None else ""
    if client is None:
        by_external_id = link and match_external_id and bool(record.external_id)
        client, how = find_existing_client(
            tenant=tenant,
            provider=source if by_external_id else None,
            external_id=record.external_id if by_external_id else None,
            email_hash=record.email_hash,
            phone_hash=record.phone_hash,
        )
    created = client is None
    if client is None:
        client = Client(tenant=tenant, source=source)
    owner = ""
    if link and record.external_id and source != Source.CSV and not created:
        owner = _owner_for(record, _client_profiles(tenant, client, source) if profiles is None else profiles)
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
                for_tenant(ClientTag.objects.all(), tenant)
                .filter(client=client, tag__in=tags)
                .values_list("tag_id", flat=True)
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
        outcome=ImportOutcome.CREATED if created else (ImportOutcome.UPDATED if changed else ImportOutcome.UNCHANGED),
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


def _any_hex(table: str, column: str, values: list[str]) -> models.Q:
    """`_any` of hex digests (email and phone hashes), sent as one comma-joined text that the
    server splits (`string_to_array`, folded into the same constant array when the statement
    is planned): psycopg quotes a list's items one by one in Python, a few microseconds each,
    and a digest holds no comma nor anything to quote."""
    return models.Q(
        RawSQL(
            f'"{table}"."{column}" = ANY(string_to_array(%s, \',\'))',
            (",".join(values),),
            output_field=models.BooleanField(),
        )
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
        client = Client(*own)  # type: ignore[misc]  # positional: django-stubs types keywords only
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
    per table (tenants.db.bulk: COPY into a temporary table, INSERT ... SELECT / UPDATE ... FROM).

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
        for link in for_tenant(ClientExternalId.objects.select_related("client"), tenant).filter(
            _any("clients_clientexternalid", "external_id", external_ids), provider=source
        ):
            pool.links[link.external_id] = pool.add(link.client)
    if email_hashes or phone_hashes:
        for client in for_tenant(Client.objects.all(), tenant).filter(
            _any_hex("clients_client", "email_hash", email_hashes)
            | _any_hex("clients_client", "phone_hash", phone_hashes),
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
            for_tenant(ClientTag.objects.all(), tenant)
            .filter(_any("clients_clienttag", "client_id", sorted(existing)), tag_id__in=tag_ids)
            .values_list("client_id", "tag_id")
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
        found, how = pool.find(record, *hashes[n])
        created = found is None
        if found is None:
            client = new_client(now + n * step)
            before = None
        else:
            client = found
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
        results.append(
            ImportOutcome.CREATED if created else (ImportOutcome.UPDATED if changed else ImportOutcome.UNCHANGED)
        )
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
    values: Callable[[Client], tuple[Any, ...]] = operator.attrgetter(*_UPSERT_COLUMNS)

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
        [((tenant.id, client_id, *values(pool.clients[client_id])), sorted(fields)) for client_id, fields in updated],
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
            for_tenant(ClientExternalId.objects.select_for_update().select_related("client"), tenant)
            .filter(provider=provider, external_id=external_id)
            .first()
        )
        if link is None:
            return "not linked"
        client = link.client
        link.delete()
        if (
            client.source == provider
            and not for_tenant(ClientExternalId.objects.all(), tenant).filter(client=client).exists()
        ):
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

    with transaction.atomic():
        job = jobs.job_create(
            tenant=tenant,
            kind=IMPORT_JOB_KIND,
            started_by=acting_user,
            # By name: a web process has not imported clients.tasks (Celery registers a task
            # where its module is imported), and services never import tasks.
            enqueue=jobs.task_by_name(IMPORT_TASK_NAME),
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


def client_profiles_date(*, tenant: Tenant, source: str, created_at: Mapping[str, datetime.datetime]) -> int:
    """Give profiles of `source` linked before their creation time was kept the one a
    provider now sends ({external id: created_at}); a profile that has one keeps it. It only
    decides which profile owns a client (see client_upsert). Returns how many were dated."""
    require_tenant(tenant)
    dated = 0
    for external_id, when in created_at.items():
        dated += ClientExternalId.objects.filter(
            provider=source, external_id=external_id, provider_created_at__isnull=True
        ).update(provider_created_at=when)
    return dated


def client_consent_record(
    *,
    tenant: Tenant,
    client: Client,
    decisions: Mapping[str, bool | None],
    origin: str,
    provider: str = "",
    decided_at: datetime.datetime | None = None,
) -> set[str]:
    """Record consent decisions another app learned (a STOP reply, a bounce, an unsubscribe
    link) in the client's consent ledger, under the ledger's rules (clients.consent:
    `consent_record`). Returns the client fields that changed."""
    return consent.consent_record(
        tenant=tenant, client=client, decisions=decisions, origin=origin, provider=provider, decided_at=decided_at
    )
