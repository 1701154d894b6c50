"""Provider connections, their webhook events, and the routing rows that find a tenant
for a request that arrives without one (webhooks, the custom CRM push endpoint)."""

from __future__ import annotations

import uuid

from django.db import models

from tenants.db.crypto import EncryptedJSONField
from tenants.db.sharding import TenantForeignKey
from tenants.models import Tenant, TenantModel


class Provider(models.TextChoices):
    SQUARE = "square", "Square"
    ACUITY = "acuity", "Acuity Scheduling"
    HUBSPOT = "hubspot", "HubSpot"
    CUSTOM_CRM = "custom_crm", "Custom CRM"


class IntegrationConnection(TenantModel):
    """One provider account linked to a tenant.

    `credentials` is ciphertext in the database (Fernet, FIELD_ENCRYPTION_KEY) and is never
    returned by the API, shown in the admin or logged. `config` holds what is not secret
    (Square location ids, the HubSpot birthday property). `cursors` holds the per-resource
    checkpoints that make a sync incremental and resumable.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        NEEDS_REAUTH = "needs_reauth"
        ERROR = "error"
        DISABLED = "disabled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    credentials = EncryptedJSONField(blank=True, default=dict)
    config = models.JSONField(default=dict, blank=True)
    cursors = models.JSONField(default=dict, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "provider"], name="integration_connection_unique_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} ({self.status})"

    def __repr__(self) -> str:  # never let credentials reach a log line through repr()
        return f"<IntegrationConnection {self.id} {self.provider} {self.status}>"


class WebhookEvent(TenantModel):
    """A provider notification we accepted. The unique key drops replays and redeliveries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100, blank=True)
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed = models.BooleanField(default=False)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "provider", "event_id"], name="webhook_event_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "-received_at"], name="webhook_event_tenant_idx")]


class CatalogVariation(TenantModel):
    """A Square ITEM_VARIATION: what a sale's line item points at (`catalog_object_id`).

    Services are Square ITEMs; this row maps a variation to its item's Service so that
    revenue by service works on imported sales.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.SQUARE)
    external_id = models.CharField(max_length=255)
    item_external_id = models.CharField(max_length=255, blank=True)
    service = TenantForeignKey("analytics.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=200, blank=True)
    price_amount = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "provider", "external_id"], name="catalog_variation_unique"),
        ]


class ConnectionRoute(models.Model):
    """Routing table: which tenant an unauthenticated inbound request belongs to.

    Webhooks and the custom CRM push arrive with no user and therefore no tenant context, so
    the first lookup cannot go through a row-level-secured table. This table is deliberately
    NOT a tenant table (no RLS, and its tenant column is named `routed_tenant_id` so the
    tenant-table checks do not mistake it for one). It holds no customer data and no
    secret, only:

    - `square_merchant`: the merchant id Square answered for the connection's own access
      token (GET /v2/merchants/me, or the OAuth token response), never one a request named.
      One row per connection: when two tenants hold tokens for the same merchant (two
      BrandVX accounts of one business), its webhooks go to both, and each re-fetches the
      object with its own token. So no tenant can keep another out by connecting first, and
      no answer depends on, or tells about, another tenant's connection.
    - `api_key`: the SHA-256 of a custom CRM connection's API key (the key itself is shown
      once and never stored); compared in constant time after the indexed lookup.
    - `acuity_webhook`: the random token in an Acuity connection's webhook URL. It only picks
      the connection; the request is authenticated by the X-Acuity-Signature made with that
      connection's API key (which stays encrypted in the tenant table).

    Everything after the lookup runs inside the routed tenant's context, under RLS.
    """

    class Kind(models.TextChoices):
        SQUARE_MERCHANT = "square_merchant"
        API_KEY = "api_key"
        ACUITY_WEBHOOK = "acuity_webhook"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    lookup = models.CharField(max_length=255)
    routed_tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_column="routed_tenant_id", related_name="+")
    connection_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Random values we generate (API-key digests, Acuity tokens) route to one connection.
            models.UniqueConstraint(
                fields=["kind", "lookup"], condition=~models.Q(kind="square_merchant"), name="connection_route_unique"
            ),
            models.UniqueConstraint(
                fields=["kind", "lookup", "connection_id"], name="connection_route_unique_per_connection"
            ),
        ]
        indexes = [models.Index(fields=["connection_id"], name="connection_route_conn_idx")]

    def __str__(self) -> str:
        return f"{self.kind} -> {self.routed_tenant_id}"
