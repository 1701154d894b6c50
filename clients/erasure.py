"""A client's data rights: everything held about them (`client_data_export`), and their
erasure (`client_erase`).

Erasure removes the person from the tenant's data in one transaction:
- the client row, its tag links, external ids and message drafts (recipient and body) go;
- appointments, sales and refunds stay (the business's books), with no client;
- every other free text the tenant holds (job parameters, results and errors, stored webhook
  events, a pending CSV upload, line item descriptions...) is searched for the person's
  e-mail, phone (E.164, national digits and the usual written forms) and names, and each
  occurrence is replaced by `[erased]`. The tables are discovered from the models (every
  tenant table's text and JSON columns), not listed by hand, so a column added later is
  covered; `clients/tests/test_erasure.py` proves it by scanning every column of every table
  as the database owner;
- the append-only ledgers keep their rows: consent events and change records hold ids, field
  names and decisions, never a value (tenants.changes, clients.consent), so nothing there
  names the person once the client row is gone;
- a keyed hash of the e-mail and phone goes on the suppression list (clients.suppression), so
  no import grants the person consent again;
- the erasure itself is a change record (`client.erased`) naming only the client's id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from django.apps import apps
from django.db import models, transaction
from django.db.models import F, Func, Value
from django.db.models.functions import Cast
from django.utils import timezone

from clients.models import Client, ClientTag, ConsentEvent
from clients.suppression import suppress
from tenants.changes import record_change
from tenants.context import require_tenant
from tenants.db.crypto import EncryptedJSONField
from tenants.models import ChangeRecord, Tenant, TenantModel, User, for_tenant, get_in_tenant

REDACTED = "[erased]"
EXPORT_FORMAT_VERSION = 1
# Single names shorter than this are not searched on their own (they would hit every word
# containing them); they are still found as part of the full name.
MIN_NAME_LENGTH = 2


@dataclass(frozen=True)
class PersonNeedles:
    """What identifies the person in free text: literal strings (e-mail, phone forms), the full
    name, and the single names (each matched as a whole word).

    Single names are searched only in free text (text and JSON columns: notes, job parameters,
    errors and results, stored webhook events, uploads), not in short named values (varchar:
    a staff member's name on an appointment, a service, a tag), where a client called Rose
    would otherwise erase the "Rose gold toner" service and every appointment of a stylist
    called Rose."""

    literals: tuple[str, ...]
    full_names: tuple[str, ...]
    single_names: tuple[str, ...]

    def python_pattern(self, *, free_text: bool = True) -> re.Pattern[str]:
        names = self.full_names + (self.single_names if free_text else ())
        parts = [re.escape(s) for s in self.literals] + [rf"\b{re.escape(n)}\b" for n in names]
        return re.compile("|".join(parts), re.IGNORECASE)

    def postgres_pattern(self, *, free_text: bool = True) -> str:
        # PostgreSQL's advanced regular expressions: `\` before a non-alphanumeric character
        # means that character; \m and \M are the word boundaries.
        def escape(text: str) -> str:
            return "".join(c if c.isalnum() or c == " " else "\\" + c for c in text)

        names = self.full_names + (self.single_names if free_text else ())
        parts = [escape(s) for s in self.literals] + [rf"\m{escape(n)}\M" for n in names]
        return "|".join(parts)


def person_needles(client: Client) -> PersonNeedles:
    literals: list[str] = []
    if client.email:
        literals.append(client.email)
    if client.phone:
        literals.append(client.phone)
        try:
            number = phonenumbers.parse(client.phone)
            literals.append(str(number.national_number))
            for style in (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL):
                literals.append(phonenumbers.format_number(number, style))
        except phonenumbers.NumberParseException:
            pass
    full = " ".join(part for part in (client.first_name, client.last_name) if part)
    singles = {n for n in (*client.first_name.split(), *client.last_name.split()) if len(n) >= MIN_NAME_LENGTH}

    def longest_first(values: Iterable[str]) -> tuple[str, ...]:
        # A full name is replaced as a whole before its parts.
        return tuple(sorted(set(values), key=len, reverse=True))

    return PersonNeedles(
        literals=longest_first(literals),
        full_names=longest_first([full] if " " in full else []),
        single_names=longest_first(singles | ({full} if full and " " not in full else set())),
    )


def _redact_value(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, list):
        return [_redact_value(v, pattern) for v in value]
    if isinstance(value, dict):
        return {pattern.sub(REDACTED, k): _redact_value(v, pattern) for k, v in value.items()}
    return value


def _free_text_fields(
    model: type[models.Model],
) -> tuple[list[models.Field[Any, Any]], list[models.Field[Any, Any]]]:
    """A tenant model's text columns and JSON columns that may hold free text (not choices,
    not encrypted secrets)."""
    text: list[models.Field[Any, Any]] = []
    json: list[models.Field[Any, Any]] = []
    for f in model._meta.concrete_fields:
        if isinstance(f, EncryptedJSONField) or f.choices:
            continue
        if isinstance(f, models.JSONField):
            json.append(f)
        elif isinstance(f, (models.CharField, models.TextField)):
            text.append(f)
    return text, json


def redactable_models(exclude: Iterable[type[models.Model]] = ()) -> list[type[models.Model]]:
    """Every tenant model whose rows the runtime role may change (append-only ledgers hold no
    values: see the module docstring)."""
    excluded = set(exclude)
    return [
        m
        for m in apps.get_models()
        if issubclass(m, TenantModel)
        and not getattr(m, "append_only", False)
        and not m._meta.proxy
        and m not in excluded
    ]


def redact_person(
    *, tenant: Tenant, needles: PersonNeedles, exclude: Iterable[type[models.Model]] = ()
) -> dict[str, int]:
    """Replace the person's identifiers in every free-text column of the tenant's tables by
    `[erased]`. Returns {table: rows changed}."""
    # free text (text, JSON) -> its patterns; None when there is nothing to look for (an empty
    # pattern would match every row).
    patterns = {
        free: (needles.postgres_pattern(free_text=free), needles.python_pattern(free_text=free))
        if needles.literals or needles.full_names or (free and needles.single_names)
        else None
        for free in (True, False)
    }
    changed: dict[str, int] = {}
    for model in redactable_models(exclude):
        text_fields, json_fields = _free_text_fields(model)
        rows: set[Any] = set()
        base = for_tenant(model._base_manager.all(), tenant)
        for f in text_fields:
            found = patterns[isinstance(f, models.TextField)]
            if found is None:
                continue
            pg_pattern = found[0]
            hits = base.filter(**{f"{f.attname}__iregex": pg_pattern})
            rows |= set(hits.values_list("pk", flat=True))
            hits.update(
                **{
                    f.attname: Func(
                        F(f.attname), Value(pg_pattern), Value(REDACTED), Value("gi"), function="regexp_replace"
                    )
                }
            )
        json_patterns = patterns[True]
        if json_patterns is not None:
            pg_json, py_json = json_patterns
            for f in json_fields:
                hits = base.annotate(_as_text=Cast(f.attname, models.TextField())).filter(_as_text__iregex=pg_json)
                for pk, value in hits.values_list("pk", f.attname):
                    for_tenant(model._base_manager.all(), tenant).filter(pk=pk).update(
                        **{f.attname: _redact_value(value, py_json)}
                    )
                    rows.add(pk)
        if rows:
            changed[model._meta.db_table] = len(rows)
    return changed


@dataclass
class ErasureResult:
    client_id: uuid.UUID
    suppressed: list[str] = field(default_factory=list)
    redacted: dict[str, int] = field(default_factory=dict)
    unlinked: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)


def client_erase(*, tenant: Tenant, client_id: uuid.UUID, acting_user: User | None = None) -> ErasureResult:
    """Erase a client (see the module docstring), in one transaction. NotFound (404) when the
    tenant has no such client."""
    require_tenant(tenant)
    with transaction.atomic():
        client = get_in_tenant(Client, client_id, tenant=tenant, lock=True)
        result = ErasureResult(client_id=client.id)
        result.suppressed = [kind for kind, value in (("email", client.email), ("phone", client.phone)) if value]
        suppress(tenant=tenant, email=client.email, phone=client.phone)
        # Rows that point at the client: money and appointments lose the link (their on_delete
        # is SET_NULL), the rest (tags, external ids, drafts) go with it.
        for relation in Client._meta.related_objects:
            if relation.many_to_many:
                continue
            related = for_tenant(relation.related_model._base_manager.all(), tenant).filter(
                **{relation.field.name: client}
            )
            label = relation.related_model._meta.db_table
            if relation.on_delete is models.SET_NULL:
                count = related.update(**{relation.field.name: None})
                key = "unlinked"
            else:
                count = related.delete()[0]
                key = "deleted"
            if count:
                getattr(result, key)[label] = count
        needles = person_needles(client)
        client.delete()
        result.redacted = redact_person(tenant=tenant, needles=needles, exclude=[Client])
        record_change(
            tenant=tenant, actor=acting_user, action="client.erased", object_type="client", object_id=client_id
        )
    return result


# --- export ------------------------------------------------------------------------------


def _rows(queryset: models.QuerySet[Any]) -> list[dict[str, Any]]:
    model = queryset.model
    names = [f.attname for f in model._meta.concrete_fields if not isinstance(f, EncryptedJSONField)]
    return list(queryset.order_by("pk").values(*names))


def client_data_export(*, tenant: Tenant, client_id: uuid.UUID, acting_user: User | None = None) -> dict[str, Any]:
    """One document with everything held about a client: the profile, tag names, consent
    decisions, every row that points at the client (appointments, sales with their line items
    and refunds, message drafts, external ids; found from the model's relations, not listed)
    and the change records about them. Recorded as a `client.exported` change (the access is
    audited; the record holds no value)."""
    require_tenant(tenant)
    client = get_in_tenant(Client, client_id, tenant=tenant)
    document: dict[str, Any] = {
        "format": "brandvx.client_export",
        "version": EXPORT_FORMAT_VERSION,
        "exported_at": timezone.now(),
        "tenant": {"id": tenant.id, "name": tenant.name},
        "client": _rows(for_tenant(Client.objects.all(), tenant).filter(pk=client.pk))[0],
        "tags": sorted(
            for_tenant(ClientTag.objects.all(), tenant).filter(client=client).values_list("tag__name", flat=True)
        ),
        "consent_events": _rows(for_tenant(ConsentEvent.objects.all(), tenant).filter(client_id=client.id)),
    }
    for relation in Client._meta.related_objects:
        if relation.many_to_many or relation.related_model is ClientTag:
            continue
        model = relation.related_model
        rows = _rows(for_tenant(model._base_manager.all(), tenant).filter(**{relation.field.name: client}))
        # One level further: what belongs to those rows (a sale's line items and refunds).
        pks = [row[model._meta.pk.attname] for row in rows]
        for child in model._meta.related_objects:
            if child.many_to_many or not pks or not issubclass(child.related_model, TenantModel):
                continue
            by_parent: dict[Any, list[dict[str, Any]]] = {}
            children = for_tenant(child.related_model._base_manager.all(), tenant).filter(
                **{f"{child.field.name}__in": pks}
            )
            for child_row in _rows(children):
                by_parent.setdefault(child_row[child.field.attname], []).append(child_row)
            for row in rows:
                row[child.get_accessor_name() or child.name] = by_parent.get(row[model._meta.pk.attname], [])
        document[relation.get_accessor_name() or relation.name] = rows
    document["change_records"] = _rows(
        for_tenant(ChangeRecord.objects.all(), tenant).filter(object_type="client", object_id=str(client.id))
    )
    record_change(tenant=tenant, actor=acting_user, action="client.exported", obj=client)
    return document
