"""Plain Django: one schema, a tenant column, no isolation (the ORM filter is all there is)."""

from django.db import models

from bench.peers.models import ClientBase, ClientExternalIdBase, ClientTagBase, TagBase


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=200)

    class Meta:
        db_table = "tenant"


class Client(ClientBase):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)

    class Meta:
        db_table = "client"
        indexes = [models.Index(fields=["tenant", "-created_at", "-id"], name="client_tenant_created_idx")]


class Tag(TagBase):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)

    class Meta:
        db_table = "tag"
        indexes = [models.Index(fields=["tenant", "name"], name="tag_tenant_name_idx")]


class ClientTag(ClientTagBase):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="client_tags", db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="client_tags", db_index=False)

    class Meta:
        db_table = "client_tag"
        constraints = [models.UniqueConstraint(fields=["tenant", "client", "tag"], name="client_tag_unique")]


class ClientExternalId(ClientExternalIdBase):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="external_ids", db_index=False)

    class Meta:
        db_table = "client_external_id"
        indexes = [models.Index(fields=["tenant", "client"], name="client_external_client_idx")]
