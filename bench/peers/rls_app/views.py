import uuid
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse

from bench.peers.api import ClientListBase, client_queryset, client_serializer
from bench.peers.rls_app.models import Client, ClientExternalId, ClientTag, Tenant


class TenantFromHeaderMiddleware:
    """Sets request.tenant, which django-rls' RLSContextMiddleware (next) puts in rls.tenant_id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            # django-rls reads request.tenant (HttpRequest declares no such attribute).
            request.tenant = Tenant._default_manager.get(  # type: ignore[attr-defined]
                id=uuid.UUID(request.headers.get("X-Tenant-ID", ""))
            )
        except (ValueError, Tenant.DoesNotExist):
            return JsonResponse({"code": "unknown_tenant", "detail": "No such tenant."}, status=404)
        return self.get_response(request)


class ClientList(ClientListBase):
    serializer_class = client_serializer(Client)

    def get_queryset(self) -> QuerySet[Any]:
        # No tenant filter: the RLS policy on every table answers for it.
        return client_queryset(Client, ClientTag, ClientExternalId)
