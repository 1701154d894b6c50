"""django-tenants' public schema: tenants and their domains."""

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Tenant(TenantMixin):  # type: ignore[misc]  # django-tenants ships no type hints
    id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=200)
    auto_create_schema = False  # the benchmark creates and fills the schemas itself (bench.peers.setup)

    class Meta:
        db_table = "tenant"


class Domain(DomainMixin):  # type: ignore[misc]  # django-tenants ships no type hints
    class Meta:
        db_table = "domain"
