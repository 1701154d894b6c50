"""django-tenants: a schema per tenant, so no tenant column; the same list index without it."""

from django.db import models

from bench.peers.models import ClientBase, ClientExternalIdBase, ClientTagBase, TagBase


class Client(ClientBase):
    class Meta:
        db_table = "client"
        indexes = [models.Index(fields=["-created_at", "-id"], name="client_created_idx")]


class Tag(TagBase):
    class Meta:
        db_table = "tag"
        indexes = [models.Index(fields=["name"], name="tag_name_idx")]


class ClientTag(ClientTagBase):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="client_tags", db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="client_tags", db_index=False)

    class Meta:
        db_table = "client_tag"
        constraints = [models.UniqueConstraint(fields=["client", "tag"], name="client_tag_unique")]


class ClientExternalId(ClientExternalIdBase):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="external_ids", db_index=False)

    class Meta:
        db_table = "client_external_id"
        indexes = [models.Index(fields=["client"], name="client_external_client_idx")]
