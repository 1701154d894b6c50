"""Consent: the ledger of decisions, and the one derivation of a client's current consent.

Every decision (grant or withdrawal, per channel) is appended to `ConsentEvent`; nothing is
ever changed or removed. A client's `email_consent` / `sms_consent` (and their `_at`) are a
cache of what `derive` computes from the client's events, written only by `_refresh` here,
so the API, the CSV import, the provider importers, merge and sending all see one answer.

The rules:
- the latest decision stands (by `decided_at`; at the same instant a withdrawal wins);
- a withdrawal is never undone by an older grant (the order above), nor by a grant that is
  not an explicit decision of the person's (an import, a provider, a merge of a duplicate's
  imported grant): only a newer grant made by a user of the app (`api_user`) or by the person
  themselves (`sms_reply`: START after STOP) re-grants;
- the person's own reply (`sms_reply`: STOP or START) is recorded whenever it is news, a STOP
  even from a client nobody asked (so no later import can grant what the person refused);
  an unsubscribe link, a hard bounce or a spam complaint (`unsubscribe_link`,
  `provider_bounce`, `provider_complaint`) only ever withdraw;
- an import records only what changes something: a withdrawal unless the client is already
  withdrawn, a grant only when the client has no decision at all on that channel;
- an import never grants consent to a person on the suppression list (an erased client:
  clients.suppression), whatever it says;
- a user of the app records a decision when it differs from the current consent (a "no" on a
  client nobody has asked is the default, not a decision: a PUT that leaves the flag false
  records nothing).

Merge copies the merged-away client's events to the kept client (same decision, same time,
`copied_from` naming the original) and derives again: a provider unsubscribe on one and an
older opt-in on the other leave the merged client opted out.
"""

from __future__ import annotations

import datetime
import operator
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from clients.models import Client, ConsentChannel, ConsentEvent, ConsentOrigin
from clients.suppression import is_suppressed
from tenants.db.bulk import copy_insert
from tenants.models import Tenant, User

CHANNELS = tuple(ConsentChannel.values)
# Grants that may undo a withdrawal when newer: a person's decision told to a user of the app.
EXPLICIT_GRANT_ORIGINS = frozenset({ConsentOrigin.API_USER, ConsentOrigin.SMS_REPLY})
# Origins that only ever withdraw (a grant from them is never recorded).
WITHDRAWAL_ONLY_ORIGINS = frozenset(
    {ConsentOrigin.UNSUBSCRIBE_LINK, ConsentOrigin.PROVIDER_BOUNCE, ConsentOrigin.PROVIDER_COMPLAINT}
)
IMPORT_ORIGINS = frozenset({ConsentOrigin.CSV_IMPORT, ConsentOrigin.PROVIDER_IMPORT, ConsentOrigin.SYSTEM})


@dataclass(frozen=True)
class ConsentState:
    """One channel's current consent: granted True/False, or None when nobody decided."""

    granted: bool | None
    at: datetime.datetime | None


def derive(events: Iterable[ConsentEvent]) -> dict[str, ConsentState]:
    """The current consent per channel from a client's events (see the module's rules)."""
    by_channel: dict[str, list[ConsentEvent]] = {channel: [] for channel in CHANNELS}
    for event in events:
        by_channel[event.channel].append(event)
    states = {}
    for channel, channel_events in by_channel.items():
        granted: bool | None = None
        at: datetime.datetime | None = None
        # Grants before withdrawals at the same instant: the withdrawal is applied last, so it stands.
        for event in sorted(channel_events, key=lambda e: (e.decided_at, e.granted is False, e.recorded_at, str(e.id))):
            if event.granted and granted is False and event.origin not in EXPLICIT_GRANT_ORIGINS:
                continue  # only an explicit, newer grant undoes a withdrawal
            granted, at = event.granted, event.decided_at
        states[channel] = ConsentState(granted, at)
    return states


def consent_state(client: Client, channel: str) -> ConsentState:
    """The client's consent on `channel`, read from the derived fields (no query)."""
    granted, at = getattr(client, f"{channel}_consent"), getattr(client, f"{channel}_consent_at")
    return ConsentState(True if granted else (False if at is not None else None), at)


def would_record(client: Client | None, channel: str, granted: bool, origin: str) -> bool:
    """Whether a decision from `origin` is news for the client (None: a client not yet saved)."""
    state = consent_state(client, channel).granted if client is not None else None
    if origin in IMPORT_ORIGINS:
        return (state is None) if granted else (state is not False)
    if origin in WITHDRAWAL_ONLY_ORIGINS:
        return not granted and state is not False
    if origin == ConsentOrigin.SMS_REPLY:
        return (state is not True) if granted else (state is not False)
    return granted != bool(state)  # a user of the app


def consent_record(
    *,
    tenant: Tenant,
    client: Client,
    decisions: Mapping[str, bool | None],
    origin: str,
    provider: str = "",
    decided_at: datetime.datetime | None = None,
    acting_user: User | None = None,
) -> set[str]:
    """Append the decisions that are news (see `would_record`) and derive the client's consent
    again. `decisions` maps a channel to True (grant), False (withdrawal) or None (nothing
    said). Returns the client fields that changed: saved for a saved client; for a client not
    saved yet (a creation), set on the instance for the caller's save, since such a client has
    no earlier decisions (the ledger has no foreign key, so its rows may come first)."""
    events = _news(tenant, client, decisions, origin, provider, decided_at or timezone.now(), acting_user)
    if origin in IMPORT_ORIGINS and any(e.granted for e in events) and _suppressed(tenant, client):
        events = _without_grants(events)
    if not events:
        return set()
    ConsentEvent.objects.bulk_create(events)
    if client._state.adding:
        return _set_derived(client, events)
    return _refresh(tenant, [client])[client.id]


def _news(
    tenant: Tenant,
    client: Client,
    decisions: Mapping[str, bool | None],
    origin: str,
    provider: str,
    when: datetime.datetime,
    acting_user: User | None,
) -> list[ConsentEvent]:
    """The events of `decisions` that are news for the client (`would_record`), unsaved."""
    return [
        _event(
            tenant,
            client_id=client.id,
            channel=channel,
            granted=bool(granted),
            decided_at=when,
            origin=origin,
            provider=provider,
            acting_user_id=acting_user.id if acting_user is not None else None,
        )
        for channel, granted in decisions.items()
        if granted is not None and would_record(client, channel, bool(granted), origin)
    ]


def _event(tenant: Tenant, **values: Any) -> ConsentEvent:
    """`ConsentEvent(tenant=tenant, **values)`, built from positional values (each other field
    its default): the same instance at a third of the cost (a bulk import makes one per
    decision)."""
    # Positional construction, which django-stubs does not type (it types keyword arguments).
    event = ConsentEvent(  # type: ignore[misc]
        *[
            tenant.id if f.attname == "tenant_id" else values[f.attname] if f.attname in values else f.get_default()
            for f in ConsentEvent._meta.concrete_fields
        ]
    )
    _cache_tenant(event, tenant)
    return event


_cache_tenant = ConsentEvent._meta.get_field("tenant").set_cached_value


# --- set-based (bulk imports): the same rules, many clients, one write --------------------


def consent_events_of(*, tenant: Tenant, client_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[ConsentEvent]]:
    """Every event of these clients, by client (one query): what `consent_decide` derives from."""
    events: dict[uuid.UUID, list[ConsentEvent]] = {client_id: [] for client_id in client_ids}
    if events:
        for event in ConsentEvent.objects.filter(tenant_id=tenant.id, client_id__in=list(events)):
            events[event.client_id].append(event)
    return events


def consent_decide(
    *,
    tenant: Tenant,
    client: Client,
    known_events: list[ConsentEvent],
    decisions: Mapping[str, bool | None],
    origin: str,
    provider: str = "",
    decided_at: datetime.datetime,
    suppressed: bool,
) -> tuple[list[ConsentEvent], set[str]]:
    """`consent_record` without writing, for set-based writers: the events to append (also
    added to `known_events`, the client's events so far: none for a client not saved yet) and
    the client's consent fields changed, set on the instance. The caller writes the events
    with `consent_events_write` and the client's fields with the client, in one transaction.
    `suppressed`: whether the client's e-mail or phone is on the suppression list (the caller
    asks `clients.suppression.suppressed` once for the whole batch)."""
    events = _news(tenant, client, decisions, origin, provider, decided_at, None)
    if suppressed and origin in IMPORT_ORIGINS:
        events = _without_grants(events)
    if not events:
        return [], set()
    for event in events:
        event.recorded_at = decided_at  # derive orders same-instant decisions by it
    known_events.extend(events)
    return events, _set_derived(client, known_events)


def consent_events_write(events: list[ConsentEvent]) -> int:
    """Append many events in one statement (COPY into a staging table, one INSERT ... SELECT)."""
    return copy_insert(ConsentEvent, EVENT_COLUMNS, list(map(operator.attrgetter(*EVENT_COLUMNS), events)))


EVENT_COLUMNS = (
    "id",
    "tenant_id",
    "client_id",
    "channel",
    "granted",
    "decided_at",
    "recorded_at",
    "origin",
    "provider",
)


def _suppressed(tenant: Tenant, client: Client) -> bool:
    return is_suppressed(tenant=tenant, email=client.email, phone=client.phone)


def _without_grants(events: list[ConsentEvent]) -> list[ConsentEvent]:
    # The person asked to be forgotten (clients.erasure): no import grants them consent again,
    # whatever it says. Withdrawals still count.
    return [event for event in events if not event.granted]


def consent_merge(*, tenant: Tenant, target: Client, source: Client) -> set[str]:
    """Copy the source's decisions to the target (their times and origins kept) and derive
    the target's consent from all of them. Called by clients.services.client_merge."""
    copies = [
        ConsentEvent(
            tenant=tenant,
            client_id=target.id,
            channel=event.channel,
            granted=event.granted,
            decided_at=event.decided_at,
            origin=event.origin,
            provider=event.provider,
            acting_user_id=event.acting_user_id,
            copied_from=event.id,
        )
        for event in ConsentEvent.objects.filter(tenant_id=tenant.id, client_id=source.id)
    ]
    ConsentEvent.objects.bulk_create(copies)
    return _refresh(tenant, [target])[target.id]


def consent_refresh(*, tenant: Tenant, client_ids: Iterable[uuid.UUID]) -> int:
    """Derive and store the consent of many clients (bulk writers: the demo seed). Returns
    how many clients changed."""
    clients = list(Client.objects.filter(tenant_id=tenant.id, id__in=list(client_ids)))
    return sum(1 for changed in _refresh(tenant, clients).values() if changed)


def _refresh(tenant: Tenant, clients: list[Client]) -> dict[uuid.UUID, set[str]]:
    """The only writer of the consent fields: set them to what the ledger derives."""
    events: dict[uuid.UUID, list[ConsentEvent]] = {client.id: [] for client in clients}
    for event in ConsentEvent.objects.filter(tenant_id=tenant.id, client_id__in=list(events)):
        events[event.client_id].append(event)
    changed_by_client: dict[uuid.UUID, set[str]] = {}
    to_save = []
    for client in clients:
        changed_by_client[client.id] = _set_derived(client, events[client.id])
        if changed_by_client[client.id]:
            to_save.append(client)
    if to_save:
        fields = sorted(set().union(*(changed_by_client[c.id] for c in to_save)) | {"updated_at"})
        now = timezone.now()
        for client in to_save:
            client.updated_at = now
        Client.objects.bulk_update(to_save, fields)
    return changed_by_client


def _set_derived(client: Client, events: list[ConsentEvent]) -> set[str]:
    """Set the client's consent fields (in memory) to what `events` derive; the changed names."""
    changed: set[str] = set()
    for channel, state in derive(events).items():
        for name, value in ((f"{channel}_consent", state.granted is True), (f"{channel}_consent_at", state.at)):
            if getattr(client, name) != value:
                setattr(client, name, value)
                changed.add(name)
    return changed
