from typing import Any

from django.db.models import QuerySet

from bench.peers.api import ClientListBase, client_queryset, client_serializer
from bench.peers.tenants_app.models import Client, ClientExternalId, ClientTag


class ClientList(ClientListBase):
    serializer_class = client_serializer(Client)

    def get_queryset(self) -> QuerySet[Any]:
        # No tenant filter: TenantMainMiddleware set the tenant's schema on the search_path.
        return client_queryset(Client, ClientTag, ClientExternalId)
