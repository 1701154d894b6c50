"""Clients (a salon's contacts), their external ids, and tags."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Collate, Lower

from tenants.db.sharding import TenantForeignKey
from tenants.models import TenantModel

# Column lengths, read by the API's serializers, the CSV format and the services too.
NAME_MAX_LENGTH = 100  # first_name and last_name, each
EMAIL_MAX_LENGTH = 254
PHONE_MAX_LENGTH = 20  # E.164 (at most 15 digits and the +)
PHONE_EXTENSION_MAX_LENGTH = 20
NOTES_MAX_LENGTH = 10_000  # not a column limit (notes is text): what one write may bring
EXTERNAL_ID_MAX_LENGTH = 255
TAG_NAME_MAX_LENGTH = 50


class Source(models.TextChoices):
    MANUAL = "manual"
    CSV = "csv"
    SQUARE = "square"
    ACUITY = "acuity"
    HUBSPOT = "hubspot"
    CUSTOM_CRM = "custom_crm"


def display_name_of(first_name: str, last_name: str, email: str, phone: str) -> str:
    """How a client is named on screen, everywhere (the client list, a draft, top clients):
    the name, else the email, else the phone. The one owner of the rule (Client.display_name
    reads it; so do rows read without a model)."""
    name = f"{first_name} {last_name}".strip()
    return name or email or phone or "(no name)"


def birthday_text_of(birth_year: int | None, month: int | None, day: int | None) -> str | None:
    """ISO date when the year is known, else the ISO 8601 '--MM-DD' form; None without a birthday."""
    if month is None:
        return None
    if birth_year:
        return f"{birth_year:04d}-{month:02d}-{day:02d}"
    return f"--{month:02d}-{day:02d}"


class Client(TenantModel):
    """A person the business serves. Contact fields are stored normalized (see services)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    first_name = models.CharField(max_length=NAME_MAX_LENGTH, blank=True)
    last_name = models.CharField(max_length=NAME_MAX_LENGTH, blank=True)
    email = models.CharField(max_length=EMAIL_MAX_LENGTH, blank=True, help_text="Lower-cased, trimmed.")
    phone = models.CharField(max_length=PHONE_MAX_LENGTH, blank=True, help_text="E.164, e.g. +14155550123.")
    phone_extension = models.CharField(
        max_length=PHONE_EXTENSION_MAX_LENGTH, blank=True, help_text="Digits dialled after the number (ext. 42)."
    )
    # SHA-256 of the normalized email / phone: matches one person across sources.
    email_hash = models.CharField(max_length=64, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True)
    # A birthday is a month and a day; the year is optional (Square sends 0000 when unknown).
    birthday_month = models.PositiveSmallIntegerField(null=True, blank=True)
    birthday_day = models.PositiveSmallIntegerField(null=True, blank=True)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    email_consent = models.BooleanField(default=False)
    email_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent = models.BooleanField(default=False)
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    # Set when the provider the client came from deleted it (clients.services.client_provider_deleted):
    # the client and its history stay, but it leaves the client list, birthdays and campaigns.
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="client_tenant_created_idx"),
            models.Index(fields=["tenant", "last_name", "first_name"], name="client_tenant_name_idx"),
            models.Index(fields=["tenant", "email_hash"], name="client_tenant_email_hash_idx"),
            models.Index(fields=["tenant", "phone_hash"], name="client_tenant_phone_hash_idx"),
            # A birthday window in the birthdays endpoint's order (the month-day, then the names
            # by code point as Python sorts them, then the id): a page of the window reads about
            # a page of entries (clients.selectors). Plain columns, no month * 100 + day: under
            # RLS an index serves only leakproof comparisons, and arithmetic is not leakproof;
            # not a stored generated column either: Citus 13.2's shard split cannot copy a
            # table that has one. `archived_at` rides along: the window's count (archived
            # clients left out) reads the index alone. Serves the birthday_month filter too.
            models.Index(
                "tenant",
                "birthday_month",
                "birthday_day",
                Collate("last_name", "C"),
                Collate("first_name", "C"),
                "id",
                include=["archived_at"],
                name="client_tenant_birthday_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(birthday_month__isnull=True, birthday_day__isnull=True)
                    | models.Q(birthday_month__gte=1, birthday_month__lte=12, birthday_day__gte=1, birthday_day__lte=31)
                ),
                name="client_birthday_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(birth_year__isnull=True) | models.Q(birthday_month__isnull=False),
                name="client_birth_year_needs_birthday",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return display_name_of(self.first_name, self.last_name, self.email, self.phone)

    @property
    def birthday_text(self) -> str | None:
        return birthday_text_of(self.birth_year, self.birthday_month, self.birthday_day)


class ClientExternalId(TenantModel):
    """The id a provider (Square, Acuity, ...) knows a client by: makes imports idempotent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = TenantForeignKey(Client, on_delete=models.CASCADE, related_name="external_ids")
    provider = models.CharField(max_length=20, choices=Source.choices)
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH)
    # When the provider created this profile: of several profiles of one provider linked to one
    # client, the oldest (then the smallest id) owns the client's fields (rules.owning_profile).
    provider_created_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "provider", "external_id"], name="client_external_id_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "client"], name="client_external_client_idx")]


class Tag(TenantModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=TAG_NAME_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("tenant", Lower("name"), name="tag_unique_name_ci"),
        ]

    def __str__(self) -> str:
        return self.name


class ClientTag(TenantModel):
    """Explicit through model, with its own tenant_id (so RLS covers the link table too)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = TenantForeignKey(Client, on_delete=models.CASCADE, related_name="client_tags")
    tag = TenantForeignKey(Tag, on_delete=models.CASCADE, related_name="client_tags")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "client", "tag"], name="client_tag_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "tag"], name="client_tag_tag_idx")]


class ClientImport(TenantModel):
    """An uploaded CSV held for its import job (the job's params are shown to users; a file
    of up to several MB does not belong there). Deleted when the job finishes: it holds
    personal data that has no use once imported."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = TenantForeignKey("tenants.BackgroundJob", on_delete=models.CASCADE, related_name="+", db_index=False)
    filename = models.CharField(max_length=255, blank=True)
    content = models.TextField(help_text="The decoded CSV text (UTF-8, byte order mark removed).")
    size_bytes = models.PositiveIntegerField()
    row_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "job"], name="client_import_unique_job")]

    def __str__(self) -> str:
        return f"{self.filename or 'upload'} ({self.row_count} rows)"


class ConsentChannel(models.TextChoices):
    EMAIL = "email"
    SMS = "sms"


class ConsentOrigin(models.TextChoices):
    """Who made a consent decision known to us."""

    API_USER = "api_user", "A user of the app (API)"
    CSV_IMPORT = "csv_import", "A CSV import"
    PROVIDER_IMPORT = "provider_import", "A provider import (sync, webhook or custom CRM push)"
    UNSUBSCRIBE_LINK = "unsubscribe_link", "The client's unsubscribe link"
    SMS_REPLY = "sms_reply", "The client's text reply (STOP / START)"
    PROVIDER_BOUNCE = "provider_bounce", "The email provider reported a hard bounce"
    PROVIDER_COMPLAINT = "provider_complaint", "The email provider reported a spam complaint"
    SYSTEM = "system", "The system (e.g. the migration of consents recorded before the ledger)"


class ConsentEvent(TenantModel):
    """One consent decision: a grant or a withdrawal, on one channel, with its time and origin.

    Append-only: the runtime role may INSERT and SELECT, never UPDATE or DELETE
    (`append_only` is read by tenants.db.roles, which revokes them after every migrate). A
    client's current consent is derived from these rows by clients.consent, the only writer
    of the client's consent fields. `client_id` is no foreign key on purpose: the record of a
    decision outlives a merge (the merged-away client's events are copied, not moved) and a
    deletion, and a foreign key would need UPDATE/DELETE to follow its client.
    """

    append_only = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client_id = models.UUIDField()
    channel = models.CharField(max_length=8, choices=ConsentChannel.choices)
    granted = models.BooleanField(help_text="True: the client agreed; False: the client withdrew (or refused).")
    decided_at = models.DateTimeField(help_text="When the decision was made (for imports: when we learned it).")
    recorded_at = models.DateTimeField(auto_now_add=True)
    origin = models.CharField(max_length=20, choices=ConsentOrigin.choices)
    provider = models.CharField(max_length=20, blank=True, help_text="The import's source (square, csv, ...), if any.")
    acting_user_id = models.UUIDField(null=True, blank=True)
    copied_from = models.UUIDField(
        null=True, blank=True, help_text="The event of a merged-away client this row copies (same decision, same time)."
    )

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "client_id", "channel", "decided_at"], name="consent_event_client_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {'granted' if self.granted else 'withdrawn'} at {self.decided_at:%Y-%m-%d %H:%M} ({self.origin})"


class Suppression(TenantModel):
    """A person who asked to be forgotten (clients.erasure): a keyed hash of their normalized
    e-mail or E.164 phone, nothing readable. An import never grants consent to an address on
    this list again (clients.consent.consent_record); the next import of that person makes a
    client without consent. The key is derived from the server's secret (clients.suppression),
    so the list cannot be matched against a dictionary of addresses without it."""

    class Kind(models.TextChoices):
        EMAIL = "email"
        PHONE = "phone"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind", "digest"], name="suppression_unique_digest"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.digest[:12]}…"
