"""The support admin: platform staff read across tenants, audited; they change a tenant's
data only after entering that tenant, stating why.

- Reading: every admin view of a tenant model runs in `dangerously_support_read_context`
  (the read-only support database role: SELECT only, every tenant).
- Changing: a staff member enters one tenant (reason required: /admin/support/enter/<id>/);
  until they leave, admin views of tenant models run in that tenant's context, as the
  runtime role, and see and change that tenant only.
- Auditing: each tenant whose rows a page showed (or changed) gets a `SupportAccess` row:
  who, which tenant, what, when, from where. Tenant owners read them at /api/v1/audit-log/.
- Platform tables that reach a tenant (the tenant registry, users, webhook routes) get the
  same treatment through `SupportModelAdminMixin` with their own tenant link; users and
  routes are never changed through the admin at all. Platform tables that decide who may act
  (groups and permissions, sign-in lockouts, OTP devices) are read-only here, with no bulk
  action: they change through management commands (enroll_support_staff) and migrations.
  Beat schedules too, except that a superuser may change one (never add or delete), each
  change in Django's admin log.
- What support may change inside an entered tenant: what the "Support" group grants
  (SUPPORT_GROUP_PERMISSIONS: a client's contact fields and notes, its tags, a draft's
  text), and in those forms only the fields the model's admin names in
  `support_editable_fields`; every other field and page is view-only for them. Superusers
  change what the admins allow. Every admin write inside a tenant, by either, is a
  `ChangeRecord` (the owner's /api/v1/change-log/, naming the staff member and the reason)
  and a `SupportAccess` "change" row; entering and leaving are audited too.
- Who gets in: an active staff user with the `tenants.support_access` permission and, when
  DEBUG is off, a verified TOTP device (django-otp). is_staff alone opens nothing.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable
from functools import update_wrapper
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path
from django.utils import timezone

from tenants.auth.client_address import client_address
from tenants.changes import change_reason
from tenants.context import dangerously_support_read_context, tenant_context
from tenants.models import SupportAccess, Tenant, TenantModel

if TYPE_CHECKING:
    from django.contrib.admin.views.main import ChangeList
    from django.contrib.auth.forms import AuthenticationForm

    from tenants.models import User

    # The mixins' base for the type checker only: their super() calls reach ModelAdmin's
    # methods. At run time they stay plain classes (ModelAdmin is not subscriptable there).
    _ModelAdminBase = admin.ModelAdmin[Any]
    _InlineBase = admin.options.InlineModelAdmin[Any, Any]
else:
    _ModelAdminBase = object
    _InlineBase = object

_M = TypeVar("_M", bound=Model)
_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])

SESSION_KEY = "brandvx_support_tenant"
SUPPORT_PERMISSION = "tenants.support_access"
# What `enroll_support_staff` grants support engineers (the group is created or reset to
# exactly this on every run). Inside an entered tenant they may change a client's contact
# fields and notes (clients.admin.ClientAdmin.support_editable_fields), tag and untag it,
# and change a message draft's text; everything else is view-only for them. No membership,
# consent, connection, sale or platform permission: consent goes through the consent
# ledger, memberships and connections through the owner.
SUPPORT_GROUP = "Support"
SUPPORT_GROUP_PERMISSIONS = (
    SUPPORT_PERMISSION,
    "clients.change_client",
    "clients.add_clienttag",
    "clients.delete_clienttag",
    "campaigns.change_messagedraft",
)
# Platform apps whose admin pages only show: changing them decides who can act (groups and
# permissions, OTP devices, lockouts) or what runs for every tenant (beat schedules). No
# bulk action runs on them either.
READ_ONLY_APPS = {"auth", "django_celery_beat", "axes", "otp_totp"}
# Of those, the ones a superuser may still change (never add or delete), each change in
# Django's admin log (the object's History): what runs for every tenant.
SCHEDULE_APPS = {"django_celery_beat"}


def otp_required() -> bool:
    """Two-factor is required for the support admin whenever DEBUG is off; no switch."""
    return not settings.DEBUG


class _OTPUser(Protocol):
    """request.user once django_otp's OTPMiddleware has run: it adds is_verified()."""

    def is_verified(self) -> bool: ...


def has_support_access(request: HttpRequest) -> bool:
    user = request.user
    if not (user.is_active and user.is_staff and user.has_perm(SUPPORT_PERMISSION)):
        return False
    return not otp_required() or cast("_OTPUser", user).is_verified()


def entered_tenant(request: HttpRequest) -> dict[str, Any] | None:
    """The tenant the staff member entered (the session's record), or None."""
    entered: dict[str, Any] | None = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    return entered


def _is_tenant_model(model: type[Model] | None) -> bool:
    return model is not None and issubclass(model, TenantModel)


def _support_admin(site: admin.AdminSite, model: type[Model] | None) -> SupportModelAdminMixin | None:
    """The model's admin when its pages show a tenant's rows (tenant models, and platform
    tables with a tenant link); those run in a support context and are audited."""
    model_admin = site._registry.get(model) if model is not None else None
    return model_admin if isinstance(model_admin, SupportModelAdminMixin) else None


def _record(request: HttpRequest, tenant_id: uuid.UUID | str | None, action: str, detail: str = "") -> None:
    if tenant_id:
        request.__dict__.setdefault("_support_accesses", set()).add((str(tenant_id), action))
        if detail:
            details = request.__dict__.setdefault("_support_details", {})
            key = (str(tenant_id), action)
            details[key] = "; ".join(filter(None, [details.get(key, ""), detail]))[:500]


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """django-axes' AXES_LOCKOUT_CALLABLE: the 429 page a locked-out sign-in gets, saying why
    and how long is left. The lock lifts once the latest counted failure (of this username or
    this address) is older than the cool-off time."""
    import math
    from datetime import timedelta

    from axes.helpers import get_client_username, get_cool_off
    from axes.models import AccessAttempt
    from django.db.models import Max, Q
    from django.shortcuts import render

    now = timezone.now()
    cool_off = get_cool_off(request) or timedelta(0)
    username = get_client_username(request, credentials)
    address = getattr(request, "axes_ip_address", None)
    condition = Q(pk__in=[])
    if username:
        condition |= Q(username=username)
    if address:
        condition |= Q(ip_address=address)
    latest = AccessAttempt.objects.filter(condition, attempt_time__gte=now - cool_off).aggregate(
        latest=Max("attempt_time")
    )["latest"]
    left = (latest + cool_off - now) if latest else cool_off
    until = now + left
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "is_nav_sidebar_enabled": False,  # signed out: there is nothing to navigate to
        "minutes_left": max(1, math.ceil(left.total_seconds() / 60)),
        "until": until,
    }
    return render(request, "admin/support/lockout.html", context, status=429)


def audit_client_ip(request: HttpRequest) -> str | None:
    """The caller's address (behind trusted proxies too), or None when there is none; also
    django-axes' AXES_CLIENT_IP_CALLABLE, whose log stores an IP address or nothing."""
    address = client_address(request)
    return None if address == "unknown" else address


def _flush_audit(request: HttpRequest) -> None:
    """Write the gathered accesses in one INSERT. The support role may append audit rows
    (as itself: a policy checks staff_user_id) and write nothing else."""
    entered = entered_tenant(request) or {}
    accesses = sorted(request.__dict__.pop("_support_accesses", set()))
    details: dict[tuple[str, str], str] = request.__dict__.pop("_support_details", {})
    if not accesses:
        return
    # A signed-in staff member: only requests that passed has_support_access (or the site's
    # own permission check) gather accesses.
    staff_user = cast("User", request.user)
    rows = [
        SupportAccess(
            tenant_id=tenant_id,
            staff_user=staff_user,
            action=action,
            reason=entered.get("reason", "") if entered.get("tenant_id") == tenant_id else "",
            detail=details.get((tenant_id, action), ""),
            path=request.get_full_path()[:500],
            remote_addr=audit_client_ip(request),
        )
        for tenant_id, action in accesses
    ]
    with dangerously_support_read_context(staff_user_id=request.user.id):
        SupportAccess.objects.bulk_create(rows)


def without_secret_columns(queryset: QuerySet[_M]) -> QuerySet[_M]:
    """`queryset` with every column the support role may not read (tenants.db.roles.secret_fields:
    password hashes, encrypted credentials) deferred, its own and those of the rows a foreign
    key points at. Those rows are joined here, so that no lazy load fetches them whole: the
    support role gets "permission denied" for any query naming a secret column."""
    from tenants.db.roles import secret_fields

    model = queryset.model
    deferred = [field.name for field in secret_fields(model)]
    joined = []
    for field in model._meta.concrete_fields:
        related = field.related_model  # set on every many-to-one field
        if field.many_to_one and related is not None and related is not model and secret_fields(related):
            joined.append(field.name)
            deferred += [f"{field.name}__{secret.name}" for secret in secret_fields(related)]
    if joined:
        queryset = queryset.select_related(*joined)
    return queryset.defer(*deferred) if deferred else queryset


class _SupportAutocompleteView(AutocompleteJsonView):
    # Narrower than the base's: as_view(admin_site=...) always sets it, and get() sets
    # object_list from get_queryset (a queryset, not any paginatable sequence).
    admin_site: admin.AdminSite
    object_list: QuerySet[Any]

    def get_queryset(self) -> QuerySet[Any]:
        return without_secret_columns(super().get_queryset())

    def get_context_data(self, *, object_list: Any = None, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(object_list=object_list, **kwargs)
        model_admin = _support_admin(self.admin_site, self.object_list.model)
        if model_admin is not None:
            for tenant_id in model_admin.support_tenants_of(self.request, list(context["object_list"])):
                _record(self.request, tenant_id, SupportAccess.Action.VIEW)
        return context


class EnterTenantForm(forms.Form):
    reason = forms.CharField(
        min_length=10,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why you need to change this tenant's data (ticket number, request). The tenant's owner sees this.",
    )


class SupportAdminSite(admin.AdminSite):
    site_header = "BrandVX support"
    site_title = "BrandVX support"
    index_title = "Tenants and their data"
    site_url = "/api/v1/"  # "View site": the browsable API

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        model_admin = getattr(view, "__self__", None)
        model: type[Model] | None = getattr(model_admin, "model", None)

        def with_support_context(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            target = model
            if target is None and view.__name__ == "autocomplete_view":
                target = _autocomplete_model(request)
            if _support_admin(self, target) is None or not has_support_access(request):
                return view(request, *args, **kwargs)
            entered = entered_tenant(request)
            reason: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
            if entered:
                context = tenant_context(entered["tenant_id"], role="support", user_id=request.user.id)
                # Every ChangeRecord the request writes (admin or service) says why.
                reason = change_reason(entered["reason"])
            else:
                context = dangerously_support_read_context(staff_user_id=request.user.id)
            with context, reason:
                response = view(request, *args, **kwargs)
                # Templates evaluate querysets lazily: render while the context is active.
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response.render()
            if entered and request.method == "POST":
                _record(request, entered["tenant_id"], SupportAccess.Action.CHANGE)
            _flush_audit(request)
            return response

        update_wrapper(with_support_context, view)
        # The wrapper takes the view's arguments and returns its response.
        return cast(_View, super().admin_view(with_support_context, cacheable))

    def has_permission(self, request: HttpRequest) -> bool:
        return has_support_access(request)

    # Properties where AdminSite has plain attributes: which form and template depends on
    # DEBUG when the page is served. Nothing sets them on this site.
    @property
    def login_form(self) -> type[AuthenticationForm]:  # type: ignore[override]  # read-only on purpose
        if otp_required():
            from django_otp.admin import OTPAdminAuthenticationForm

            otp_form: type[AuthenticationForm] = OTPAdminAuthenticationForm
            return otp_form
        return AdminAuthenticationForm

    @property
    def login_template(self) -> str | None:  # type: ignore[override]  # read-only on purpose
        return "otp/admin111/login.html" if otp_required() else None

    def register(
        self,
        model_or_iterable: type[Model] | Iterable[type[Model]],
        admin_class: type[admin.ModelAdmin[Any]] | None = None,
        **options: Any,
    ) -> None:
        """Every tenant model's admin gets SupportModelAdminMixin, and every admin of a
        READ_ONLY_APPS model gets PlatformReadOnlyMixin: apps (ours and libraries) register
        plain ModelAdmins and cannot forget the read-only default or the audit."""
        # A list or tuple is several models; anything else is one (as Django's own register).
        models_: Iterable[type[Model]] = (
            model_or_iterable
            if isinstance(model_or_iterable, (list, tuple))
            else [cast("type[Model]", model_or_iterable)]
        )
        for model in models_:
            cls: type[admin.ModelAdmin[Any]] = admin_class or admin.ModelAdmin
            if _is_tenant_model(model) and not issubclass(cls, SupportModelAdminMixin):
                cls = type(cls.__name__, (SupportModelAdminMixin, cls), {"__module__": cls.__module__})
            elif model._meta.app_label in SCHEDULE_APPS and not issubclass(cls, PlatformScheduleMixin):
                cls = type(cls.__name__, (PlatformScheduleMixin, cls), {"__module__": cls.__module__})
            elif model._meta.app_label in READ_ONLY_APPS and not issubclass(cls, PlatformReadOnlyMixin):
                cls = type(cls.__name__, (PlatformReadOnlyMixin, cls), {"__module__": cls.__module__})
            super().register(model, cls, **options)

    def autocomplete_view(self, request: HttpRequest) -> HttpResponse:
        # The view answers a JsonResponse (an HttpResponse), as Django's own autocomplete_view.
        return cast(HttpResponse, _SupportAutocompleteView.as_view(admin_site=self)(request))

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        context["support_tenant"] = entered_tenant(request)
        return context

    def get_urls(self) -> list[URLResolver | URLPattern]:
        return [
            path("support/enter/<uuid:tenant_id>/", self.admin_view(self.enter_tenant_view), name="support_enter"),
            path("support/leave/", self.admin_view(self.leave_tenant_view), name="support_leave"),
            *super().get_urls(),
        ]

    def enter_tenant_view(self, request: HttpRequest, tenant_id: uuid.UUID) -> HttpResponse:
        tenant = get_object_or_404(Tenant, id=tenant_id)
        form = EnterTenantForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            request.session[SESSION_KEY] = {
                "tenant_id": str(tenant.id),
                "tenant_name": tenant.name,
                "reason": form.cleaned_data["reason"],
                "entered_at": timezone.now().isoformat(),
            }
            _record(request, tenant.id, SupportAccess.Action.ENTER)
            _flush_audit(request)
            messages.warning(request, f"You are acting inside {tenant.name}. Every change is logged for its owner.")
            return redirect("admin:index")
        context = {**self.each_context(request), "title": f"Enter {tenant.name}", "tenant": tenant, "form": form}
        return TemplateResponse(request, "admin/support/enter_tenant.html", context)

    def leave_tenant_view(self, request: HttpRequest) -> HttpResponse:
        entered = entered_tenant(request)
        if entered:
            # Audited with the reason it was entered for, before the session forgets it.
            _record(request, entered["tenant_id"], SupportAccess.Action.LEAVE)
            _flush_audit(request)
        request.session.pop(SESSION_KEY, None)
        messages.info(request, "You left the tenant; support access is read-only again.")
        return redirect("admin:index")


def _autocomplete_model(request: HttpRequest) -> type[Model] | None:
    from django.apps import apps

    try:
        return apps.get_model(request.GET["app_label"], request.GET["model_name"])
    except (KeyError, LookupError):
        return None


class PlatformReadOnlyMixin(_ModelAdminBase):
    """Pages that show, never change: applied by `SupportAdminSite.register` to READ_ONLY_APPS.
    No bulk action either: a library's actions (django-celery-beat's enable/disable/run)
    do not ask the change permission."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


class PlatformScheduleMixin(PlatformReadOnlyMixin):
    """Beat schedules (SCHEDULE_APPS): read-only with no action for support staff; a
    superuser may change a schedule and run the library's actions (never add or delete one),
    and each change, bulk ones included, is written to Django's admin log per object."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser) and super(PlatformReadOnlyMixin, self).has_change_permission(
            request, obj
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        if not request.user.is_superuser:
            return {}
        actions = super(PlatformReadOnlyMixin, self).get_actions(request)
        audited: dict[str, Any] = {}
        for name, entry in actions.items():
            if entry is not None:
                func, action_name, description = entry
                audited[name] = (self._audited_action(name, func), action_name, description)
        return audited

    def _audited_action(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def audited(model_admin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
            objects = list(queryset)
            response = func(model_admin, request, queryset)
            for obj in objects:
                self.log_change(request, obj, f"Bulk action “{name}”.")
            return response

        update_wrapper(audited, func)
        return audited


def _secret_lookup(model: type[Model], lookup: str) -> bool:
    """Whether an admin lookup (`credentials__isnull`, `staff_user__password__startswith`)
    reaches a column the support role may not read (tenants.db.roles.secret_fields)."""
    from django.core.exceptions import FieldDoesNotExist

    from tenants.db.roles import secret_fields

    current: type[Model] | None = model
    for part in lookup.split("__"):
        if current is None:
            return False
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if field in secret_fields(current):
            return True
        related = field.related_model
        current = related if isinstance(related, type) else None
    return False


def support_tenant(request: HttpRequest) -> Tenant:
    """The tenant the staff member entered, as a row (read in its own context)."""
    entered = entered_tenant(request)
    if not entered:
        raise PermissionError("no tenant entered")
    return Tenant.objects.get(id=entered["tenant_id"])


class SupportModelAdminMixin(_ModelAdminBase):
    """Applied to every ModelAdmin of a tenant model by `SupportAdminSite.register`; platform
    admins whose rows belong to a tenant use it too, naming the link in `support_tenant_field`
    (or overriding `support_tenants_of`). Reading is audited; changing needs the tenant
    entered, and each change is a ChangeRecord for the tenant's owner."""

    support_tenant_field = "tenant_id"
    # True: never changed through the admin, entered or not (a platform-level change).
    support_read_only = False
    # False only for the tenant directory (TenantAdmin's list: names, to find a tenant).
    support_audit_list = True
    # The form fields support staff (not superusers) may change, when their group grants
    # the model's change permission (SUPPORT_GROUP_PERMISSIONS); every other field is
    # read-only for them.
    support_editable_fields: tuple[str, ...] = ()
    # True when the admin's save_model goes through a service that writes the ChangeRecord
    # (clients, drafts): the mixin then writes none of its own for the object.
    support_changes_recorded_by_service = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Inlines follow the parent's rules (view for support, change only when entered).
        self.inlines = [_support_inline(inline) for inline in self.inlines]  # type: ignore[misc]  # this admin's own

    def support_tenants_of(self, request: HttpRequest, objects: Iterable[Any]) -> set[Any]:
        """The tenants whose data `objects` are (one query at most, whatever their number)."""
        return {getattr(obj, self.support_tenant_field) for obj in objects} - {None}

    def _entered(self, request: HttpRequest) -> bool:
        return bool(entered_tenant(request))

    def _may_change(self, request: HttpRequest, obj: Any) -> bool:
        if self.support_read_only or not self._entered(request):
            return False
        # Inside tenant A, an object of another tenant is out of reach (RLS hides tenant
        # tables' rows; platform tables are checked here).
        entered = entered_tenant(request) or {}
        return obj is None or {str(t) for t in self.support_tenants_of(request, [obj])} <= {entered["tenant_id"]}

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_support_access(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return has_support_access(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._may_change(request, None) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_change(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_change(request, obj) and super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return readonly
        # Support staff: every model field but the allowed ones (excluded fields stay out).
        hidden = set(self.get_exclude(request, obj) or ()) | set(readonly) | set(self.support_editable_fields)
        fields = [*self.opts.concrete_fields, *self.opts.many_to_many]
        return readonly + [f.name for f in fields if f.editable and f.name not in hidden]

    def _tenant_filter_field(self) -> str | None:
        name = self.support_tenant_field.removesuffix("_id")
        try:
            field = self.opts.get_field(name)
        except Exception:
            return None
        return name if field.many_to_one and field.related_model is Tenant else None

    def get_list_filter(self, request: HttpRequest) -> Any:
        """Across tenants, every list can be narrowed to one tenant (the tenants that have
        rows there); inside a tenant there is only one."""
        list_filter = list(super().get_list_filter(request))
        field = self._tenant_filter_field()
        if field and not self._entered(request) and field not in list_filter:
            list_filter.insert(0, (field, admin.RelatedOnlyFieldListFilter))
        return list_filter

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # No filter on a column the support role cannot read (?credentials__isnull=false was
        # a 500 across tenants, and an oracle inside one): refused (400) like any
        # disallowed lookup.
        if _secret_lookup(self.model, lookup):
            return False
        return bool(super().lookup_allowed(lookup, value, request))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if isinstance(self.list_select_related, list | tuple):
            # The changelist adds list_select_related only to a queryset that joins nothing
            # yet, and without_secret_columns may join the row's users.
            queryset = queryset.select_related(*self.list_select_related)
        return without_secret_columns(queryset)

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        if not self.support_audit_list:
            return changelist
        for tenant_id in self.support_tenants_of(request, changelist.result_list):
            _record(request, tenant_id, SupportAccess.Action.VIEW)
        return changelist

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Model | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            for tenant_id in self.support_tenants_of(request, [obj]):
                _record(request, tenant_id, SupportAccess.Action.VIEW)
        return obj

    # --- writes: each one a ChangeRecord for the tenant's owner --------------------------

    def support_change_detail(self, request: HttpRequest, obj: Any, form: forms.ModelForm[Any], change: bool) -> str:
        """What the change was, when that is not personal data (a member's new role): shown
        in the owner's change log and audit log. Field names are always recorded."""
        return ""

    def support_record_change(
        self, request: HttpRequest, obj: Any, verb: str, fields: Iterable[str] = (), *, detail: str = ""
    ) -> None:
        """A ChangeRecord (actor: the staff member; reason: why they entered) for `obj`."""
        from tenants.changes import record_change

        tenant = support_tenant(request)
        record_change(
            tenant=tenant,
            actor=cast("User", request.user),
            action=f"{obj._meta.model_name}.{verb}",
            obj=obj,
            fields=fields,
            detail=detail,
        )
        if detail:
            _record(request, tenant.id, SupportAccess.Action.CHANGE, detail)

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm[Any], change: bool) -> None:
        entered = entered_tenant(request)
        if not change and entered and hasattr(obj, "tenant_id") and not obj.tenant_id:
            obj.tenant_id = uuid.UUID(entered["tenant_id"])
        detail = self.support_change_detail(request, obj, form, change)
        super().save_model(request, obj, form, change)
        if not self.support_changes_recorded_by_service:
            self.support_record_change(
                request, obj, "updated" if change else "created", form.changed_data, detail=detail
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.support_record_change(request, obj, "deleted")
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        from tenants.changes import record_changes

        record_changes(
            tenant=support_tenant(request),
            actor=cast("User", request.user),
            action=f"{queryset.model._meta.model_name}.deleted",
            object_type=queryset.model._meta.model_name,
            object_ids=list(queryset.values_list("pk", flat=True)),
        )
        super().delete_queryset(request, queryset)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        entered = entered_tenant(request)
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj.delete()
        for obj in instances:
            if entered and hasattr(obj, "tenant_id") and not obj.tenant_id:
                obj.tenant_id = uuid.UUID(entered["tenant_id"])
            obj.save()
        formset.save_m2m()
        if formset.new_objects or formset.changed_objects or formset.deleted_objects:
            self.support_record_formset(request, form.instance, formset)

    def support_record_formset(self, request: HttpRequest, parent: Any, formset: Any) -> None:
        """An inline's rows changed: the parent changed, in the field named by the relation."""
        self.support_record_change(request, parent, "updated", [formset.fk.remote_field.get_accessor_name()])


class SupportInlineMixin(_InlineBase):
    """An inline of a support admin: shown to support, changed only as its parent is (the
    tenant entered, the parent in it), and then as the user's permissions on the inline's
    model allow (support: adding and removing a client's tags)."""

    def _parent_may_change(self, request: HttpRequest, obj: Any) -> bool:
        parent = _support_admin(self.admin_site, self.parent_model)
        return parent is not None and parent._may_change(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_support_access(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        obj = args[0] if args else None  # InlineModelAdmin's signature: (request, obj)
        return self._parent_may_change(request, obj) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent_may_change(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent_may_change(request, obj) and super().has_delete_permission(request, obj)


def _support_inline(inline: Any) -> Any:
    if issubclass(inline, SupportInlineMixin):
        return inline
    return type(inline.__name__, (SupportInlineMixin, inline), {"__module__": inline.__module__})
