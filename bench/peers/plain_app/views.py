import uuid
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from bench.peers.api import ClientListBase, client_queryset, client_serializer
from bench.peers.plain_app.models import Client, ClientExternalId, ClientTag


class ClientList(ClientListBase):
    serializer_class = client_serializer(Client)

    def get_queryset(self) -> QuerySet[Any]:
        try:
            tenant_id = uuid.UUID(self.request.headers.get("X-Tenant-ID", ""))
        except ValueError:
            raise ValidationError({"code": "invalid_tenant", "detail": "X-Tenant-ID is not a UUID."}) from None
        return client_queryset(Client, ClientTag, ClientExternalId, tenant_id=tenant_id)
