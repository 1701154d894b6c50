"""Every change to connections: create, update, disable, request a sync, custom CRM push."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import Conflict, InvalidInput, NotFound
from common.validation import parse_query_date
from integrations import tasks
from integrations.models import ConnectionRoute, IntegrationConnection, Provider
from integrations.routing import key_digest, new_api_key, new_webhook_token, route_clear, route_set
from tenants.changes import record_change
from tenants.context import require_tenant
from tenants.jobs import job_create
from tenants.models import BackgroundJob, Tenant, User

logger = logging.getLogger("brandvx.integrations")

Status = IntegrationConnection.Status
Kind = ConnectionRoute.Kind

# Which credential keys each provider takes (required ones first) and which config keys.
CREDENTIAL_KEYS: dict[str, tuple[set[str], set[str]]] = {
    Provider.SQUARE: ({"access_token"}, {"refresh_token", "expires_at"}),
    Provider.ACUITY: ({"user_id", "api_key"}, set()),
    Provider.HUBSPOT: ({"access_token"}, set()),
    Provider.CUSTOM_CRM: (set(), set()),
}
CONFIG_KEYS: dict[str, set[str]] = {
    Provider.SQUARE: {"location_ids", "history_start"},
    Provider.ACUITY: {"history_start", "window_days", "future_days"},
    Provider.HUBSPOT: {"birthday_property"},
    Provider.CUSTOM_CRM: set(),
}
# Values we generate or learn from the provider and keep in config; clients may not set them.
# `merchant_id` is what Square answered for the connection's own token (square_merchant_record).
GENERATED_CONFIG_KEYS = {"webhook_token", "merchant_id"}
SYNC_QUEUED_STALE_AFTER = datetime.timedelta(hours=1)
JobStatus = BackgroundJob.Status


class ConnectionExists(Conflict):
    code = "connection_exists"
    default_detail = "This provider is already connected; update the existing connection."


class SyncNotAllowed(Conflict):
    code = "sync_not_allowed"
    default_detail = "This connection cannot sync now."


class ConnectionNotFound(NotFound):
    code = "not_found"
    default_detail = "No connection for this provider."


def _validate_credentials(provider: str, credentials: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    if not isinstance(credentials, dict):
        raise InvalidInput("credentials", "must be an object")
    required, optional = CREDENTIAL_KEYS[provider]
    for key, value in credentials.items():
        if key not in required | optional:
            raise InvalidInput(f"credentials.{key}", f"is not a {provider} credential")
        if not isinstance(value, str | int) or isinstance(value, bool) or str(value).strip() == "":
            raise InvalidInput(f"credentials.{key}", "must be a non-empty string")
    if not partial:
        for key in sorted(required - set(credentials)):
            raise InvalidInput(f"credentials.{key}", "is required")
    return {key: str(value).strip() for key, value in credentials.items()}


def _validate_config(provider: str, config: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise InvalidInput("config", "must be an object")
    for key, value in config.items():
        if key == "merchant_id" and provider == Provider.SQUARE:
            raise InvalidInput(
                "config.merchant_id", "is read from Square with the connection's access token; it cannot be set"
            )
        if key not in CONFIG_KEYS[provider]:
            raise InvalidInput(f"config.{key}", f"is not a {provider} setting")
        if key == "location_ids" and not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
            raise InvalidInput("config.location_ids", "must be a list of Square location ids")
        if key in ("window_days", "future_days") and not (type(value) is int and 1 <= value <= 366):
            raise InvalidInput(f"config.{key}", "must be a whole number of days between 1 and 366")
        if key == "history_start":
            # A date as the schema states it: YYYY-MM-DD in the supported years.
            parse_query_date(value if isinstance(value, str) else "?", "config.history_start", required=True)
        if key == "birthday_property" and not (isinstance(value, str) and 0 < len(value) <= 100):
            raise InvalidInput(f"config.{key}", "must be a non-empty string")
    return config


def connection_create(
    *,
    tenant: Tenant,
    provider: str,
    credentials: dict[str, Any],
    config: dict[str, Any],
    acting_user: User | None,
) -> tuple[IntegrationConnection, dict[str, Any]]:
    """Create a connection. Returns it and the one-time values to show the owner once (a
    custom CRM's API key: only its SHA-256 is stored)."""
    require_tenant(tenant)
    if provider not in Provider.values:
        raise InvalidInput("provider", f"must be one of {', '.join(Provider.values)}")
    credentials = _validate_credentials(provider, credentials or {}, partial=False)
    config = dict(_validate_config(provider, config or {}))
    one_time: dict[str, Any] = {}
    with transaction.atomic():
        if provider == Provider.ACUITY:
            config["webhook_token"] = new_webhook_token()
        try:
            with transaction.atomic():
                connection = IntegrationConnection.objects.create(
                    tenant=tenant, provider=provider, credentials=credentials, config=config
                )
        except IntegrityError:
            raise ConnectionExists() from None
        if provider == Provider.CUSTOM_CRM:
            one_time["api_key"] = _set_api_key(connection)
        if provider == Provider.SQUARE:
            _verify_merchant_on_commit(connection)
        _sync_routes(connection)
        record_change(tenant=tenant, actor=acting_user, action="connection.created", obj=connection)
    return connection, one_time


def _verify_merchant_on_commit(connection: IntegrationConnection) -> None:
    """Ask Square, after commit and outside any transaction, whose token this is. Best
    effort: if the broker is down the next sync of the connection verifies it instead."""
    tenant_id, connection_id = str(connection.tenant_id), str(connection.id)

    def enqueue() -> None:
        try:
            tasks.verify_square_merchant.delay(tenant_id, connection_id)
        except Exception:  # the request has committed; the sync will verify the merchant
            logger.warning("could not enqueue the Square merchant check of connection %s", connection_id, exc_info=True)

    transaction.on_commit(enqueue)


def _set_api_key(connection: IntegrationConnection) -> str:
    api_key = new_api_key()
    route_set(
        kind=Kind.API_KEY, lookup=key_digest(api_key), tenant_id=connection.tenant_id, connection_id=connection.id
    )
    return api_key


def _sync_routes(connection: IntegrationConnection) -> None:
    if connection.provider == Provider.SQUARE and connection.config.get("merchant_id"):
        route_set(
            kind=Kind.SQUARE_MERCHANT,
            lookup=connection.config["merchant_id"],
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
        )
    if connection.provider == Provider.ACUITY and connection.config.get("webhook_token"):
        route_set(
            kind=Kind.ACUITY_WEBHOOK,
            lookup=connection.config["webhook_token"],
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
        )


def connection_update(
    *,
    tenant: Tenant,
    connection: IntegrationConnection,
    credentials: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    status: str | None = None,
    acting_user: User | None,
) -> IntegrationConnection:
    """Merge new credentials (only the keys given), replace the config, or re-enable.

    New credentials clear needs_reauth / error: the owner just reconnected.
    """
    require_tenant(tenant)
    with transaction.atomic():
        connection = IntegrationConnection.objects.select_for_update().get(id=connection.id)
        fields = ["updated_at"]
        if credentials is not None:
            new = _validate_credentials(connection.provider, credentials, partial=True)
            token_changed = "access_token" in new and new["access_token"] != connection.credentials.get("access_token")
            if connection.provider == Provider.SQUARE and token_changed:
                # A new token may belong to another merchant: unverified until Square says.
                connection.config = {k: v for k, v in connection.config.items() if k != "merchant_id"}
                fields.append("config")
                route_clear(kind=Kind.SQUARE_MERCHANT, connection_id=connection.id)
                _verify_merchant_on_commit(connection)
            connection.credentials = {**connection.credentials, **new}
            fields.append("credentials")
            if connection.status in (Status.NEEDS_REAUTH, Status.ERROR):
                connection.status, connection.last_error = Status.ACTIVE, ""
                fields += ["status", "last_error"]
        if config is not None:
            generated = {k: v for k, v in connection.config.items() if k in GENERATED_CONFIG_KEYS}
            if (
                isinstance(config, dict)
                and "merchant_id" in config
                and config["merchant_id"] == generated.get("merchant_id")
            ):
                # The config as read back (GET, edit, PATCH): the verified id, unchanged.
                config = {k: v for k, v in config.items() if k != "merchant_id"}
            connection.config = {**_validate_config(connection.provider, config), **generated}
            fields.append("config")
        if status is not None:
            if status not in (Status.ACTIVE, Status.DISABLED):
                raise InvalidInput("status", "may only be set to active or disabled")
            connection.status = status
            fields.append("status")
        connection.save(update_fields=sorted(set(fields)))
        _sync_routes(connection)
        record_change(
            tenant=tenant,
            actor=acting_user,
            action="connection.updated",
            obj=connection,
            fields=[f for f in fields if f != "updated_at"],
        )
    return connection


def connection_disable(
    *, tenant: Tenant, connection: IntegrationConnection, acting_user: User | None
) -> IntegrationConnection:
    """Stop syncing and ignore webhooks; credentials and history are kept for re-enabling."""
    return connection_update(tenant=tenant, connection=connection, status=Status.DISABLED, acting_user=acting_user)


def connection_rotate_api_key(*, tenant: Tenant, connection: IntegrationConnection, acting_user: User | None) -> str:
    """A new custom CRM key; the old one stops working at once."""
    if connection.provider != Provider.CUSTOM_CRM:
        raise InvalidInput("provider", "only custom CRM connections have an API key")
    require_tenant(tenant)
    with transaction.atomic():
        api_key = _set_api_key(connection)
        record_change(tenant=tenant, actor=acting_user, action="connection.api_key_rotated", obj=connection)
    return api_key


def sync_request(*, tenant: Tenant, provider: str, acting_user: User | None) -> BackgroundJob:
    """Queue one sync run of the tenant's connection (202 with the job id)."""
    require_tenant(tenant)
    if provider not in Provider.values:
        raise InvalidInput("provider", f"must be one of {', '.join(Provider.values)}")
    with transaction.atomic():
        connection = IntegrationConnection.objects.select_for_update().filter(provider=provider).first()
        if connection is None:
            raise ConnectionNotFound()
        if provider == Provider.CUSTOM_CRM:
            raise SyncNotAllowed(message="A custom CRM pushes its data to /api/v1/integrations/custom_crm/import/.")
        if connection.status in (Status.DISABLED, Status.NEEDS_REAUTH):
            raise SyncNotAllowed(
                message=f"The connection is {connection.status}; update it first.",
                code=f"connection_{connection.status}",
            )
        kind = f"integrations.sync.{provider}"
        # The row lock above serializes two clicks. A running sync blocks while its lease is
        # live; one whose worker stopped renewing it is failed here and this request takes
        # over (the new run resumes from the saved checkpoints). A queued job blocks for an
        # hour: it may be waiting for a free worker.
        now = timezone.now()
        lease = datetime.timedelta(seconds=settings.SYNC_LEASE_SECONDS)
        active = BackgroundJob.objects.filter(kind=kind, params__connection_id=str(connection.id))
        lapsed = active.filter(status=JobStatus.RUNNING, updated_at__lt=now - lease)
        lapsed.update(
            status=JobStatus.FAILED,
            finished_at=now,
            updated_at=now,
            failure_reason=f"The worker stopped making progress (no lease renewal for {settings.SYNC_LEASE_SECONDS} s); "
            "a new sync resumes from the saved position.",
        )
        running = (
            active.filter(status=JobStatus.RUNNING, updated_at__gte=now - lease)
            | active.filter(status=JobStatus.QUEUED, updated_at__gte=now - SYNC_QUEUED_STALE_AFTER)
        ).first()
        if running is not None:
            raise SyncNotAllowed(
                message="A sync of this connection is already queued or running.",
                code="sync_in_progress",
                extra={"job_id": str(running.id)},
            )
        return job_create(
            tenant=tenant,
            kind=kind,
            params={"connection_id": str(connection.id)},
            started_by=acting_user,
            enqueue=tasks.enqueue_sync,
        )


# --- webhooks ------------------------------------------------------------------------

# Acuity's notifications carry no event id, nonce or timestamp: the same change sent twice and
# a replay of a captured request are the same bytes. The same notification (action and
# appointment) within this window of an earlier one is a duplicate: recorded nowhere new,
# enqueued nothing (the earlier one's fetch reads the appointment's state). Later, it is a new
# notification: processing re-fetches the appointment with the tenant's own key, so even a
# replay can only make us read again what is already true, at most once per window.
