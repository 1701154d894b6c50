"""django-rls: one schema, a tenant column, its RLS policy on every table (ModelPolicy)."""

from typing import Any

from django.db import models
from django.db.models import Q
from django_rls.models import RLSModel
from django_rls.policies import RLS, ModelPolicy

from bench.peers.models import ClientBase, ClientExternalIdBase, ClientTagBase, TagBase


def tenant_policy() -> list[Any]:  # django-rls' ModelPolicy (untyped)
    # django-rls' own context accessor: (SELECT NULLIF(current_setting('rls.tenant_id', true), '')::uuid)
    return [ModelPolicy("tenant_isolation", filters=Q(tenant_id=RLS.context("tenant_id", models.UUIDField())))]


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=200)

    class Meta:
        db_table = "tenant"


class Client(RLSModel, ClientBase):  # type: ignore[misc]  # django-rls ships no type hints
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)

    class Meta:
        rls_policies = tenant_policy()
        db_table = "client"
        indexes = [models.Index(fields=["tenant", "-created_at", "-id"], name="client_tenant_created_idx")]


class Tag(RLSModel, TagBase):  # type: ignore[misc]  # django-rls ships no type hints
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)

    class Meta:
        rls_policies = tenant_policy()
        db_table = "tag"
        indexes = [models.Index(fields=["tenant", "name"], name="tag_tenant_name_idx")]


class ClientTag(RLSModel, ClientTagBase):  # type: ignore[misc]  # django-rls ships no type hints
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="client_tags", db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="client_tags", db_index=False)

    class Meta:
        rls_policies = tenant_policy()
        db_table = "client_tag"
        constraints = [models.UniqueConstraint(fields=["tenant", "client", "tag"], name="client_tag_unique")]


class ClientExternalId(RLSModel, ClientExternalIdBase):  # type: ignore[misc]  # django-rls ships no type hints
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="external_ids", db_index=False)

    class Meta:
        rls_policies = tenant_policy()
        db_table = "client_external_id"
        indexes = [models.Index(fields=["tenant", "client"], name="client_external_client_idx")]
