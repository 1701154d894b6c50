"""The base classes every tenant endpoint is built on. The safe path is the only easy one.

- The tenant comes from the resolved membership (token + X-Tenant-ID), never from the
  request body or query string.
- Roles: `read_roles` may use safe methods, `write_roles` everything else.
- Querysets: subclasses set `queryset` (or override `get_base_queryset`); `get_queryset` is
  final and adds the tenant filter as a second belt behind RLS. An object of another tenant
  is therefore a 404, exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.template.response import SimpleTemplateResponse
from rest_framework import mixins, permissions, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.query import check_query_parameters
from tenants.auth.ratelimit import TenantRateThrottle, response_headers
from tenants.context import request_context
from tenants.context.resolution import Resolution, attached_resolution
from tenants.lifecycle import TenantPendingDeletion
from tenants.models import Membership, Role, Tenant, for_tenant

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass  # a stub-only alias

    # The mixins below are always combined with an APIView; to the type checker they are one,
    # so their super() calls and attributes are checked against it.
    _APIViewBase = APIView
else:
    _APIViewBase = object

# The model of a viewset: `class ClientViewSet(TenantModelViewSet[Client])` types its querysets,
# serializer and objects. (DRF's generic views accept subscription at runtime.)
_M = TypeVar("_M", bound=Model)

ALL_ROLES = frozenset({Role.OWNER_ADMIN, Role.STAFF, Role.VIEWER})
WRITE_ROLES = frozenset({Role.OWNER_ADMIN, Role.STAFF})
OWNER_ONLY = frozenset({Role.OWNER_ADMIN})


class TenantRolePermission(permissions.BasePermission):
    message = "Your role in this tenant does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        role = view.membership.role
        allowed = view.read_roles if request.method in permissions.SAFE_METHODS else view.write_roles
        allowed = view.action_roles.get(getattr(view, "action", None), allowed)
        return role in allowed


def _resolution(request: HttpRequest) -> Resolution:
    resolution = attached_resolution(request)
    if resolution is None:
        raise ImproperlyConfigured("tenants.context.middleware.TenantContextMiddleware did not run for this request")
    return resolution


class RequestContextMixin(_APIViewBase):
    """Runs the view *and renders its response* with the caller's context, inside the
    request's transaction; the context ends before that transaction does.

    Rendering happens here because Django would otherwise render a template response (the
    browsable API's HTML, with its forms' querysets) after the view's transaction has ended.
    A streamed body is produced later still, with no context: streaming views enter their
    own, per chunk (the client CSV export does).
    """

    resolves_tenant: ClassVar[bool] = True  # read by common.schema (the X-Tenant-ID header)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Every endpoint refuses query parameters its operation does not document (400
        # `unknown_parameter`, common.query), once the caller may call it at all (401 and 403
        # first).
        super().initial(request, *args, **kwargs)
        check_query_parameters(request)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with request_context(_resolution(request).context):
            response = super().dispatch(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
                response.render()
        return response


class TenantScopedMixin(RequestContextMixin):
    """Resolves the tenant once per request, checks the member's role and counts the request
    against the tenant's rate limits (tenants.auth.ratelimit), whose headers every answer carries."""

    tenant_scoped: ClassVar[bool] = True  # read by common.renderers
    permission_classes: Sequence[_PermissionClass] = [permissions.IsAuthenticated, TenantRolePermission]
    throttle_classes = [TenantRateThrottle]
    read_roles: frozenset[str] = ALL_ROLES
    write_roles: frozenset[str] = WRITE_ROLES
    action_roles: dict[str, frozenset[str]] = {}
    # A business whose deletion is scheduled is read-only (tenants.lifecycle): writes answer
    # 423, except on the views that set this (cancel the deletion, export the data).
    allowed_while_pending_deletion: bool = False

    tenant: Tenant
    membership: Membership

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # What APIView.initial sets first; an error raised below is then rendered in the
        # format asked for (the browsable API's page for a browser), not the default JSON.
        self.format_kwarg = self.get_format_suffix(**kwargs)
        self.perform_authentication(request)
        resolution = _resolution(request._request)
        if request.user and request.user.is_authenticated:
            self.membership = resolution.require_membership()
            self.tenant = self.membership.tenant
            # Handed to serializers and services through the request; DRF's Request declares
            # neither attribute.
            request.tenant = self.tenant  # type: ignore[attr-defined]
            request.membership = self.membership  # type: ignore[attr-defined]
        super().initial(request, *args, **kwargs)
        if (
            request.method not in permissions.SAFE_METHODS
            and getattr(self, "tenant", None) is not None
            and self.tenant.deletion_due_at is not None
            and not self.allowed_while_pending_deletion
        ):
            raise TenantPendingDeletion()

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in response_headers(request._request).items():
            response[name] = value
        return response


class TenantAPIView(TenantScopedMixin, APIView):
    """A tenant endpoint that is not about one model (reports, actions)."""


class TenantGenericViewSet(TenantScopedMixin, viewsets.GenericViewSet[_M]):
    """Base for model endpoints. Do not override get_queryset: override get_base_queryset."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset; override get_base_queryset instead, so the "
                "tenant filter cannot be lost"
            )

    def get_base_queryset(self) -> QuerySet[_M]:
        return super().get_queryset()

    def get_queryset(self) -> QuerySet[_M]:
        queryset = self.get_base_queryset()
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request tenant
            return queryset.none()
        return for_tenant(queryset, self.tenant.id)


class TenantModelViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    TenantGenericViewSet[_M],
):
    """CRUD on a tenant model; creation goes through `perform_create` (call a service)."""


class TenantReadOnlyViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, TenantGenericViewSet[_M]):
    pass
