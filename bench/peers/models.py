"""The client list's tables, as abstract models each peer makes concrete (with or without a
tenant column). Same columns as clients.models for what the list shows."""

import uuid

from django.db import models


class ClientBase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    phone_extension = models.CharField(max_length=20, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    email_hash = models.CharField(max_length=64, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True)
    birthday_month = models.PositiveSmallIntegerField(null=True, blank=True)
    birthday_day = models.PositiveSmallIntegerField(null=True, blank=True)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    source = models.CharField(max_length=20, default="manual")
    email_consent = models.BooleanField(default=False)
    email_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent = models.BooleanField(default=False)
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        abstract = True

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.phone or "(no name)"


class TagBase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=50)
    created_at = models.DateTimeField()

    class Meta:
        abstract = True


class ClientTagBase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField()

    class Meta:
        abstract = True


class ClientExternalIdBase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=20)
    external_id = models.CharField(max_length=255)
    created_at = models.DateTimeField()

    class Meta:
        abstract = True


# Columns copied from the benchmark database, table by table (tenant_id where the peer has it).
COPIED_COLUMNS = {
    "client": [
        "id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "phone_extension",
        "archived_at",
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
        "created_at",
        "updated_at",
    ],
    "tag": ["id", "name", "created_at"],
    "client_tag": ["id", "client_id", "tag_id", "created_at"],
    "client_external_id": ["id", "client_id", "provider", "external_id", "created_at"],
}
SOURCE_TABLES = {
    "client": "clients_client",
    "tag": "clients_tag",
    "client_tag": "clients_clienttag",
    "client_external_id": "clients_clientexternalid",
}
