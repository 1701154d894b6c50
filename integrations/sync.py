"""The sync engine: one background job per run, incremental and resumable.

The shape of every run, per resource:

    loop:
        fetch one page from the provider            (no database transaction open)
        with tenant_context(...):                   (one short transaction)
            write the page, a savepoint per record
            save the resource's checkpoint           (same transaction as the page: a crash
            add the page's counts to the job          never loses data nor skips a page)

A run holds a lease on its job (`updated_at`), renewed by every page it writes and by every
wait (backoff, Retry-After) it makes, in steps shorter than the lease. A worker that dies
stops renewing; after `SYNC_LEASE_SECONDS` the next sync request takes over (the dead run's
job is failed with the reason) and resumes from the saved checkpoints. A run whose job is no
longer running (canceled, or taken over) stops at its next page without writing it.
`job.counts` and `job.result` describe the whole run, across redeliveries of its task.

Checkpoints live in `IntegrationConnection.cursors[resource]`. A run that fails keeps what
it wrote; the next run resumes from the last saved checkpoint. A finished pass leaves an
"updated since" mark (Square customers, payments, Acuity dates) or starts over next time
(HubSpot, catalog), and unchanged records cost no write, so a re-sync with no changes
creates and updates nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from clients.services import client_provider_deleted
from integrations.importers.acuity import AcuityAppointmentImporter, acuity_client_key, contact_from_acuity_client
from integrations.importers.base import OUTCOMES, ClientImporter, PageCounts, PageImporter, import_page
from integrations.importers.hubspot import contact_from_hubspot
from integrations.importers.square import (
    SquareCatalogImporter,
    SquarePaymentImporter,
    SquareRefundImporter,
    contact_from_square,
    flatten_catalog,
)
from integrations.merchants import square_merchant_record
from integrations.models import IntegrationConnection, WebhookEvent
from integrations.providers.acuity import AcuityClient
from integrations.providers.base import ProviderError, ProviderRequestError, ReauthRequired, RetryPolicy
from integrations.providers.hubspot import HubSpotClient
from integrations.providers.square import SquareClient
from tenants.context import tenant_context
from tenants.jobs import job_advance, job_finish, job_is_running, job_renew, job_start
from tenants.models import BackgroundJob, Tenant

logger = logging.getLogger("brandvx.integrations")

Id = uuid.UUID | str  # a task passes ids as strings

Status = IntegrationConnection.Status

# Re-reading a little before the last mark costs only unchanged records and covers clock
# skew and records written while the previous run was reading.
CUSTOMERS_OVERLAP = datetime.timedelta(minutes=10)
PAYMENTS_OVERLAP = datetime.timedelta(days=3)  # late refunds and captures
ACUITY_OVERLAP_DAYS = 7
ACUITY_DEFAULT_HISTORY_DAYS = 365
ACUITY_FUTURE_DAYS = 90
ACUITY_WINDOW_DAYS = 30


class SyncStopped(Exception):
    """The run's job is no longer running: canceled, or taken over after its lease lapsed."""


class ChunkSpent(Exception):
    """This task wrote its chunk (`budget` records) and stopped after a page whose checkpoint
    resumes mid-pass: the job goes on in the next task, from the saved checkpoints."""


# A checkpoint that resumes a pass where it stopped (rather than ending it or leaving it).
_RESUME_KEYS = ("cursor", "resume_from", "after")


def totals_from_counts(counts: dict[str, int]) -> dict[str, dict[str, int]]:
    """`job.counts` ("customers.created": 3, ...) as the per-resource totals of `job.result`."""
    by_resource: dict[str, dict[str, int]] = {}
    for key, value in counts.items():
        resource, _, name = key.rpartition(".")
        if resource:
            by_resource.setdefault(resource, {})[name] = value
    return by_resource


class Lease:
    """Keeps a running sync's lease on its job alive through long waits."""

    def __init__(self, *, tenant_id: uuid.UUID, job_id: uuid.UUID, sleep: Callable[[float], None]):
        self.tenant_id = tenant_id
        self.job_id = job_id
        self._sleep = sleep

    def renew(self) -> None:
        with tenant_context(self.tenant_id, role="system"):
            if not job_renew(job_id=self.job_id):
                raise SyncStopped()

    def sleep(self, seconds: float) -> None:
        step = max(1.0, settings.SYNC_LEASE_SECONDS / 4)
        while seconds > 0:
            self._sleep(min(seconds, step))
            seconds -= step
            self.renew()


@dataclass
class Totals:
    by_resource: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, resource: str, counts: PageCounts) -> None:
        mine = self.by_resource.setdefault(resource, dict.fromkeys(OUTCOMES, 0))
        for key, value in counts.as_counts(resource).items():
            name = key.rpartition(".")[2]
            mine[name] = mine.get(name, 0) + value


class ConnectionSession:
    """What a run or a webhook task needs about one connection, loaded in one short
    transaction so that every fetch afterwards runs with no transaction open."""

    def __init__(self, *, tenant_id: Id, connection_id: Id, policy: RetryPolicy | None = None):
        self.tenant_id = uuid.UUID(str(tenant_id))
        self.connection_id = uuid.UUID(str(connection_id))
        self.policy = policy
        with tenant_context(self.tenant_id, role="system"):
            connection = IntegrationConnection.objects.get(id=self.connection_id)
            self.tenant = Tenant.objects.get(id=self.tenant_id)
        self.provider = connection.provider
        self.status = connection.status
        self.credentials = connection.credentials
        self.config = connection.config or {}
        self.cursors = dict(connection.cursors or {})

    def save_cursor(self, resource: str, state: dict[str, Any] | None) -> None:
        """Call inside the page's transaction (so data and checkpoint commit together)."""
        if state is None:
            self.cursors.pop(resource, None)
        else:
            self.cursors[resource] = state
        IntegrationConnection.objects.filter(id=self.connection_id).update(
            cursors=self.cursors, updated_at=timezone.now()
        )

    def save_tokens(self, credentials: dict[str, Any]) -> None:
        """Persist refreshed Square tokens at once: the old refresh token may be spent."""
        with tenant_context(self.tenant_id, role="system"):
            connection = IntegrationConnection.objects.select_for_update().get(id=self.connection_id)
            connection.credentials = {**connection.credentials, **credentials}
            connection.save(update_fields=["credentials", "updated_at"])
            if credentials.get("merchant_id"):
                # Square's token response names the merchant the new token belongs to.
                square_merchant_record(
                    tenant_id=self.tenant_id,
                    connection_id=self.connection_id,
                    merchant_id=credentials["merchant_id"],
                    access_token=credentials.get("access_token", ""),
                )
                self.config = {**self.config, "merchant_id": credentials["merchant_id"]}
        self.credentials = connection.credentials

    def verify_square_merchant(self, client: SquareClient) -> str | None:
        """Ask Square whose token this is and record the answer (see square_merchant_record)."""
        merchant_id = str(client.retrieve_merchant()["id"])
        if square_merchant_record(
            tenant_id=self.tenant_id,
            connection_id=self.connection_id,
            merchant_id=merchant_id,
            access_token=client.credentials.get("access_token", ""),
        ):
            self.config = {**self.config, "merchant_id": merchant_id}
            return merchant_id
        return None

    def mark(self, *, status: str, error: str = "", synced: bool = False) -> None:
        with tenant_context(self.tenant_id, role="system"):
            fields = {"status": status, "last_error": error[:1000], "updated_at": timezone.now()}
            if synced:
                fields["last_sync_at"] = timezone.now()
            # A connection disabled during the run stays disabled.
            IntegrationConnection.objects.filter(id=self.connection_id).exclude(status=Status.DISABLED).update(**fields)

    def square(self) -> SquareClient:
        client = SquareClient(self.credentials, policy=self.policy, on_tokens=self.save_tokens)
        client.ensure_fresh_token()
        return client

    def acuity(self) -> AcuityClient:
        return AcuityClient(self.credentials, policy=self.policy)

    def hubspot(self) -> HubSpotClient:
        return HubSpotClient(
            self.credentials, birthday_property=self.config.get("birthday_property", ""), policy=self.policy
        )


class SyncRun:
    def __init__(
        self,
        *,
        session: ConnectionSession,
        job_id: Id,
        now: datetime.datetime | None = None,
        budget: int | None = None,
    ):
        self.session = session
        self.job_id = uuid.UUID(str(job_id))
        self.now = now or timezone.now()
        self.totals = Totals()
        self.budget = budget  # records this task may write before handing over (None: all)
        self.written = 0

    # --- the loop's one write step ------------------------------------------------------

    def write_page(
        self,
        resource: str,
        importer: PageImporter,
        records: list[dict[str, Any]],
        checkpoint: dict[str, Any] | None | Literal[False] = False,
    ) -> PageCounts:
        """One transaction: the page, its checkpoint (False = leave it), the job's counts."""
        with tenant_context(self.session.tenant_id, role="system"):
            if not job_is_running(job_id=self.job_id):
                raise SyncStopped()
            counts = import_page(importer, records, resource=resource)
            if checkpoint is not False:
                self.session.save_cursor(resource, checkpoint)
            job_advance(job_id=self.job_id, done=len(records), counts=counts.as_counts(resource), errors=counts.errors)
        self.totals.add(resource, counts)
        self.written += len(records)
        # Hand over only where the next task resumes this very pass: after a page that ends a
        # pass (or has no checkpoint, like the catalog) it would start a resource again.
        resumable = isinstance(checkpoint, dict) and any(checkpoint.get(key) for key in _RESUME_KEYS)
        if self.budget is not None and self.written >= self.budget and resumable:
            raise ChunkSpent()
        return counts

    def run(self) -> None:
        getattr(self, f"sync_{self.session.provider}")()

    # --- Square -------------------------------------------------------------------------

    def sync_square(self) -> None:
        client = self.session.square()
        if not self.session.config.get("merchant_id"):
            # Unverified (the check after connecting did not run or failed): webhooks route
            # only to a verified merchant. Not needed for the sync itself, so a refusal (a token
            # without MERCHANT_PROFILE_READ) is logged and the sync goes on.
            try:
                self.session.verify_square_merchant(client)
            except ProviderRequestError as exc:
                logger.warning(
                    "square merchant of connection %s not verified: %s", self.session.connection_id, exc.reason
                )
        self.square_customers(client)
        self.square_catalog(client)
        self.square_payments(client)
        self.square_refunds(client)

    def square_customers(self, client: SquareClient) -> None:
        state = dict(self.session.cursors.get("customers") or {})
        if not state.get("cursor"):
            # A fresh pass: everything, or what changed since the last finished pass.
            state = {
                "since": state.get("updated_since"),
                "pass_started_at": self.now.isoformat(),
                "updated_since": state.get("updated_since"),
            }
        importer = ClientImporter(
            tenant=self.session.tenant,
            provider="square",
            to_contact=lambda raw: contact_from_square(raw, region=self.session.tenant.country),
        )
        since = state.get("since")
        if since:
            since = (_stored_instant(since) - CUSTOMERS_OVERLAP).isoformat()
        cursor = state.get("cursor")
        while True:
            try:
                if since:
                    records, cursor = client.search_customers_updated_since(since, cursor)
                else:
                    records, cursor = client.list_customers(cursor)
            except ProviderRequestError:
                if not state.get("cursor"):
                    raise
                # A saved cursor can expire between runs: start the pass again (idempotent).
                logger.info("square customers cursor rejected; restarting the pass")
                state["cursor"] = cursor = None
                continue
            state["cursor"] = cursor
            self.write_page(
                "customers", importer, records, state if cursor else {"updated_since": state["pass_started_at"]}
            )
            if not cursor:
                break

    def square_catalog(self, client: SquareClient) -> None:
        # The catalog is small (hundreds of objects) and carries references in every
        # direction (variation -> item -> category), so it is read whole, then written in
        # reference order. No checkpoint: unchanged objects cost nothing on the next run.
        objects, cursor = [], None
        while True:
            page, cursor = client.list_catalog(cursor)
            objects.extend(page)
            if not cursor:
                break
        flat = flatten_catalog(objects)
        items = {o["id"]: o for o in flat if o.get("type") == "ITEM"}
        importer = SquareCatalogImporter(tenant=self.session.tenant, items_by_id=items)
        if not flat:
            self.write_page("catalog", importer, [])
        for start in range(0, len(flat), 100):
            self.write_page("catalog", importer, flat[start : start + 100])

    def _created_at_state(self, key: str) -> dict[str, Any]:
        """Where a listing ordered by created_at (payments, refunds) resumes: its saved cursor,
        else the last high-water mark less the overlap (late captures and refunds), else the
        configured history start."""
        state = dict(self.session.cursors.get(key) or {})
        if not state.get("cursor"):
            last = parse_datetime(state.get("max_created_at") or "")
            history = self.session.config.get("history_start")
            begin = (last - PAYMENTS_OVERLAP).isoformat() if last else (f"{history}T00:00:00Z" if history else None)
            state = {"begin_time": begin, "max_created_at": state.get("max_created_at")}
        return state

    def square_payments(self, client: SquareClient) -> None:
        locations = self.session.config.get("location_ids") or [None]
        for location_id in locations:
            key = "payments" if location_id is None else f"payments:{location_id}"
            state = self._created_at_state(key)
            cursor = state.get("cursor")
            while True:
                records, cursor = client.list_payments(
                    begin_time=state.get("begin_time"), cursor=cursor, location_id=location_id
                )
                orders = client.batch_retrieve_orders(
                    [str(r["order_id"]) for r in records if isinstance(r, dict) and r.get("order_id")], location_id
                )
                importer = SquarePaymentImporter(tenant=self.session.tenant, orders=orders)
                created = [str(r["created_at"]) for r in records if isinstance(r, dict) and r.get("created_at")]
                if created:
                    state["max_created_at"] = max([str(state.get("max_created_at") or ""), *created])
                state["cursor"] = cursor
                checkpoint = state if cursor else {"max_created_at": state.get("max_created_at")}
                self.write_page(key if location_id else "payments", importer, records, checkpoint)
                if not cursor:
                    break

    def square_refunds(self, client: SquareClient) -> None:
        """Refunds after payments (a refund needs its sale), by their own created_at, with
        the same overlap as payments: a pending refund that completes or fails is read again."""
        locations = self.session.config.get("location_ids") or [None]
        for location_id in locations:
            key = "refunds" if location_id is None else f"refunds:{location_id}"
            state = self._created_at_state(key)
            cursor = state.get("cursor")
            importer = SquareRefundImporter(tenant=self.session.tenant)
            while True:
                records, cursor = client.list_refunds(
                    begin_time=state.get("begin_time"), cursor=cursor, location_id=location_id
                )
                created = [str(r["created_at"]) for r in records if isinstance(r, dict) and r.get("created_at")]
                if created:
                    state["max_created_at"] = max([str(state.get("max_created_at") or ""), *created])
                state["cursor"] = cursor
                checkpoint = state if cursor else {"max_created_at": state.get("max_created_at")}
                self.write_page(key, importer, records, checkpoint)
                if not cursor:
                    break

    # --- Acuity -------------------------------------------------------------------------

    def sync_acuity(self) -> None:
        client = self.session.acuity()
        tenant = self.session.tenant
        state = dict(self.session.cursors.get("appointments") or {})
        today = tenant.today(self.now)
        horizon = today + datetime.timedelta(days=int(self.session.config.get("future_days") or ACUITY_FUTURE_DAYS))
        default_window = max(1, int(self.session.config.get("window_days") or ACUITY_WINDOW_DAYS))
        start: datetime.date
        if state.get("resume_from"):
            start = _stored_date(state["resume_from"])
        elif state.get("done_through"):
            start = _stored_date(state["done_through"]) - datetime.timedelta(days=ACUITY_OVERLAP_DAYS)
        else:
            history = parse_date(str(self.session.config.get("history_start") or ""))
            start = history or today - datetime.timedelta(days=ACUITY_DEFAULT_HISTORY_DAYS)
        importer = AcuityAppointmentImporter(tenant=tenant, now=self.now)
        window = default_window
        while start <= horizon:
            end = min(start + datetime.timedelta(days=window - 1), horizon)
            records, truncated = client.list_appointments(min_date=start, max_date=end)
            if truncated:
                if end == start:
                    raise ProviderError(f"acuity: too many appointments on {start} to read in one request")
                window = max(1, (end - start).days // 2 + 1)  # a full page may hide more: narrow
                continue
            nxt = end + datetime.timedelta(days=1)
            done = {"done_through": min(today, horizon).isoformat()}
            checkpoint = (
                {"resume_from": nxt.isoformat(), "done_through": state.get("done_through")} if nxt <= horizon else done
            )
            self.write_page("appointments", importer, records, checkpoint)
            start, window = nxt, min(default_window, window * 2)
        self.acuity_clients(client)

    def acuity_clients(self, client: AcuityClient) -> None:
        # Clients without appointments, and every client's notes, are only in GET /clients.
        # Acuity gives them no id: each is linked by its email, else phone, else name.
        tenant = self.session.tenant
        records = client.list_clients()
        importer = ClientImporter(
            tenant=tenant,
            provider="acuity",
            key=acuity_client_key,
            to_contact=lambda raw: contact_from_acuity_client(raw, region=tenant.country),
        )
        if not records:
            self.write_page("clients", importer, [])
        for start in range(0, len(records), 100):
            self.write_page("clients", importer, records[start : start + 100])

    # --- HubSpot ------------------------------------------------------------------------

    def sync_hubspot(self) -> None:
        # HubSpot's list has no "updated since" filter (search does, capped at 10,000 hits):
        # each run walks every contact, resuming from `after` when a run failed half way.
        client = self.session.hubspot()
        after = (self.session.cursors.get("contacts") or {}).get("after")
        importer = ClientImporter(
            tenant=self.session.tenant,
            provider="hubspot",
            to_contact=lambda raw: contact_from_hubspot(
                raw,
                region=self.session.tenant.country,
                birthday_property=self.session.config.get("birthday_property", ""),
            ),
            skip=lambda raw: bool(raw.get("archived")),
        )
        while True:
            records, after = client.list_contacts(after)
            self.write_page(
                "contacts", importer, records, {"after": after} if after else {"completed_at": self.now.isoformat()}
            )
            if not after:
                break

    def sync_custom_crm(self) -> None:
        raise ProviderError("custom_crm: this connection pushes data to BrandVX; there is nothing to pull")


def run_sync(
    *,
    tenant_id: Id,
    job_id: Id,
    policy: RetryPolicy | None = None,
    now: datetime.datetime | None = None,
    budget: int | None = None,
) -> dict[str, Any] | None:
    """Run one sync job to the end, or (with `budget`) until it has written about that many
    records: then it returns {"continue": True} with the job still running, and the next call
    resumes from the saved checkpoints. Idempotent: a redelivered job resumes from the saved
    checkpoints, and every write is an upsert keyed by the provider's id."""
    job_id = uuid.UUID(str(job_id))
    with tenant_context(tenant_id, role="system"):
        job = job_start(job_id=job_id)
        if job is None:
            return None  # finished, canceled, or taken over already
        connection_id = job.params.get("connection_id")
    policy = policy or RetryPolicy()
    lease = Lease(tenant_id=uuid.UUID(str(tenant_id)), job_id=job_id, sleep=policy.sleep)
    session = ConnectionSession(
        tenant_id=tenant_id, connection_id=connection_id, policy=dataclasses.replace(policy, sleep=lease.sleep)
    )
    if session.status in (Status.DISABLED, Status.NEEDS_REAUTH):
        with tenant_context(tenant_id, role="system"):
            job_finish(job_id=job_id, failure_reason=f"the connection is {session.status}")
        return None
    run = SyncRun(session=session, job_id=job_id, now=now, budget=budget)
    failure = ""
    try:
        run.run()
    except ChunkSpent:
        return {"continue": True}
    except SyncStopped:
        logger.info("sync job %s stopped: canceled or taken over", job_id)
        return run.totals.by_resource
    except ReauthRequired as exc:
        failure = exc.reason
        session.mark(status=Status.NEEDS_REAUTH, error=failure)
    except ProviderError as exc:
        failure = exc.reason
        session.mark(status=Status.ERROR, error=failure)
    except Exception:
        logger.exception("sync job %s failed", job_id)
        failure = "internal error; the team has been notified"
        session.mark(status=Status.ERROR, error=failure)
    else:
        session.mark(status=Status.ACTIVE, synced=True)
    with tenant_context(tenant_id, role="system"):
        # The result describes the whole run: every attempt's pages are in job.counts.
        counts = BackgroundJob.objects.values_list("counts", flat=True).get(id=job_id)
        job_finish(job_id=job_id, failure_reason=failure, result={"resources": totals_from_counts(counts)})
    return run.totals.by_resource


# --- webhook follow-ups (always re-fetch: the provider's current state is the truth) -------


def process_square_event(*, tenant_id: Id, event_id: Id, policy: RetryPolicy | None = None) -> str:
    with tenant_context(tenant_id, role="system"):
        event = WebhookEvent.objects.filter(id=event_id).first()
        if event is None or event.processed:
            return "already processed"
        connection = IntegrationConnection.objects.filter(provider="square").first()
    if connection is None or connection.status != Status.ACTIVE:
        outcome = "ignored: connection not active"
    else:
        session = ConnectionSession(tenant_id=tenant_id, connection_id=connection.id, policy=policy)
        try:
            outcome = _apply_square_event(session, event)
        except ReauthRequired as exc:
            session.mark(status=Status.NEEDS_REAUTH, error=exc.reason)
            outcome = f"failed: {exc.reason}"
    with tenant_context(tenant_id, role="system"):
        WebhookEvent.objects.filter(id=event.id).update(
            processed=True, processed_at=timezone.now(), outcome=outcome[:255]
        )
    return outcome


def _apply_square_event(session: ConnectionSession, event: WebhookEvent) -> str:
    kind = event.event_type
    client = session.square()
    tenant = session.tenant
    if kind == "customer.deleted" and event.object_id:
        # Deleted at Square: unlink the profile; archive the client it alone kept (history kept).
        with tenant_context(session.tenant_id, role="system"):
            outcome = client_provider_deleted(tenant=tenant, provider="square", external_id=event.object_id)
        return f"{outcome}: customer deleted at Square"
    importer: PageImporter
    if kind in ("customer.created", "customer.updated") and event.object_id:
        customer = client.retrieve_customer(event.object_id)
        importer = ClientImporter(
            tenant=tenant,
            provider="square",
            to_contact=lambda raw: contact_from_square(raw, region=tenant.country),
        )
        records = [customer] if customer else []
    elif kind in ("payment.created", "payment.updated") and event.object_id:
        payment = client.retrieve_payment(event.object_id)
        orders = client.batch_retrieve_orders([str(payment["order_id"])]) if payment.get("order_id") else {}
        importer = SquarePaymentImporter(tenant=tenant, orders=orders)
        records = [payment] if payment else []
    elif kind in ("refund.created", "refund.updated") and event.object_id:
        refund = client.retrieve_refund(event.object_id)
        importer = SquareRefundImporter(tenant=tenant)
        records = [refund] if refund else []
    else:
        return f"ignored: {kind}"
    with tenant_context(session.tenant_id, role="system"):
        counts = import_page(importer, records, resource=kind.split(".")[0])
    return _outcome(counts)


def square_merchant_verify(*, tenant_id: Id, connection_id: Id, policy: RetryPolicy | None = None) -> str | None:
    """The verification a new Square connection (or a new token) gets after commit. Runs
    with no transaction open: one GET /v2/merchants/me, then a short write."""
    session = ConnectionSession(tenant_id=tenant_id, connection_id=connection_id, policy=policy)
    if session.provider != "square" or session.status == Status.DISABLED:
        return None
    try:
        return session.verify_square_merchant(session.square())
    except ReauthRequired as exc:
        session.mark(status=Status.NEEDS_REAUTH, error=exc.reason)
        return None


def process_acuity_appointment(
    *,
    tenant_id: Id,
    connection_id: Id,
    appointment_id: str,
    event_id: Id | None = None,
    policy: RetryPolicy | None = None,
) -> str:
    outcome = "failed: internal error"
    try:
        outcome = _fetch_acuity_appointment(
            tenant_id=tenant_id, connection_id=connection_id, appointment_id=appointment_id, policy=policy
        )
    finally:
        if event_id:
            _acuity_event_done(tenant_id, event_id, outcome)
    return outcome


def _acuity_event_done(tenant_id: Id, event_id: Id, outcome: str) -> None:
    with tenant_context(tenant_id, role="system"):
        WebhookEvent.objects.filter(id=event_id).update(
            processed=True, processed_at=timezone.now(), outcome=outcome[:255]
        )


def _fetch_acuity_appointment(
    *, tenant_id: Id, connection_id: Id, appointment_id: str, policy: RetryPolicy | None
) -> str:
    session = ConnectionSession(tenant_id=tenant_id, connection_id=connection_id, policy=policy)
    if session.status != Status.ACTIVE:
        return "ignored: connection not active"
    try:
        appointment = session.acuity().retrieve_appointment(appointment_id)
    except ReauthRequired as exc:
        session.mark(status=Status.NEEDS_REAUTH, error=exc.reason)
        return f"failed: {exc.reason}"
    except ProviderRequestError as exc:
        if exc.status == 404:
            # Deleted at Acuity after the notification was sent: nothing to fetch, not an error.
            return "gone: the appointment no longer exists at Acuity"
        raise
    importer = AcuityAppointmentImporter(tenant=session.tenant)
    with tenant_context(session.tenant_id, role="system"):
        counts = import_page(importer, [appointment] if appointment else [], resource="appointments")
    return _outcome(counts)


def _outcome(counts: PageCounts) -> str:
    if counts.errors:
        return f"failed: {counts.errors[0]['reason']}"
    for name in ("created", "updated", "unchanged", "skipped"):
        if getattr(counts, name):
            return name
    return "nothing to import"


def _stored_instant(value: object) -> datetime.datetime:
    """A timestamp this engine saved in a checkpoint."""
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ProviderError(f"the saved sync position {value!r} is not a timestamp")
    return parsed


def _stored_date(value: object) -> datetime.date:
    """A date this engine saved in a checkpoint."""
    parsed = parse_date(str(value))
    if parsed is None:
        raise ProviderError(f"the saved sync position {value!r} is not a date")
    return parsed
