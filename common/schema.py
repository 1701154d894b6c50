"""The OpenAPI schema, generated so that it tells the truth about every operation.

`BrandVXAutoSchema` (DEFAULT_SCHEMA_CLASS) adds, to every operation, the error responses it
can give and their body (`Error`: `{code, detail}` plus `fields` when inputs are at fault, and
`choices`, `reason` or `job_id` where they apply; see common/errors.py and
common/http_errors.py), derived from what the view is:

- 400 everywhere (malformed input, characters PostgreSQL cannot store, a bad X-Tenant-ID);
- 401, 403 and 429 where a caller authenticates (bad token, not a member or role too low,
  too many failed authentications from the address);
- 404 where the path names something; 415 where there is a request body;
- 409 and 503 where the view declares them in `error_statuses` (state conflicts; job queues).

It documents `X-Tenant-ID` (an optional header) on every endpoint that acts in a tenant, so
that Swagger UI offers the field to a person in several salons; it groups operations by area
(tags: clients, analytics, campaigns, integrations, account) and gives each a one-line summary
(declared, or derived from what the operation does).

It also puts the limits the server enforces into the parameters: request bodies refuse
unknown properties (`additionalProperties: false`, common.validation.StrictFieldsMixin),
dates carry the supported years as a pattern, and filter limits (min_value, max_value,
max_length on a django-filter filter) become minimum, maximum and maxLength.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance, get_doc
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import Direction, OpenApiParameter, PolymorphicProxySerializer
from rest_framework import serializers

from common.validation import DATE_PATTERN, DATETIME_PATTERN, StrictFieldsMixin

if TYPE_CHECKING:
    from django.db import models
    from django_filters import Filter, FilterSet
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.request import Request

# drf-spectacular's names: an OpenAPI object, and a serializer (instance or class).
_SchemaType = dict[str, Any]
_SerializerType = serializers.Serializer[Any] | type[serializers.Serializer[Any]]

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error: a stable `code`, a human `detail`, and what names the input at fault.",
    "properties": {
        "code": {
            "type": "string",
            "description": (
                "Stable machine-readable code: `validation_error`, `unknown_parameter`, `duplicate_key`, "
                "`confirmation_mismatch`, `not_found`, `conflict` (or a more precise 409 code), `not_authenticated`, "
                "`invalid_token`, `permission_denied`, `rate_limited`, `statement_timeout`, `service_unavailable`, ..."
            ),
        },
        "detail": {"type": "string", "description": "One sentence for a person."},
        "fields": {
            "type": "object",
            "additionalProperties": {},
            "description": (
                "The inputs at fault (body fields or query parameters), each with its messages: "
                "`{name: [message, ...]}`; nested for nested input."
            ),
        },
        "choices": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": {}},
            "description": "The tenants to choose from (`tenant_required`).",
        },
        "reason": {"type": "string", "description": "Why a file was refused (`validation_error` on uploads)."},
        "job_id": {"type": "string", "description": "The job already running (`sync_in_progress`)."},
    },
    "required": ["code", "detail"],
}

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `code` says what, `fields` names each input at fault.",
    401: "Missing, invalid or expired credentials.",
    403: "Not a member of the tenant, or the role does not allow this.",
    404: "Not found in this tenant.",
    409: (
        "Conflict with what is stored: a value that must be unique is already used (`conflict`, "
        "`fields` names it), or the object's state does not allow this (e.g. already refunded)."
    ),
    410: "Gone: no longer available (an export older than its availability).",
    415: "The request body's media type is not accepted.",
    423: "The business is scheduled for deletion and read-only (`tenant_pending_deletion`).",
    429: "Too many failed authentications from this address; wait and retry.",
    503: "A backing service (the job queue) is unavailable; nothing was done. Retry shortly.",
}


TENANT_HEADER = OpenApiParameter(
    "X-Tenant-ID",
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "The business (tenant) this call acts in, for a person in several: one of the tenant ids "
        "of `GET /api/v1/me/` (`memberships`). Without it: the token's tenant, else the only "
        "membership; with several and none chosen, tenant endpoints answer 400 `tenant_required` "
        "listing the choices. A tenant you are not an active member of is 403 `not_a_member`."
    ),
)

# Operation groups (tags), by the app that serves the operation.
AREA_TAGS = {
    "clients": "clients",
    "analytics": "analytics",
    "campaigns": "campaigns",
    "integrations": "integrations",
    "tenants": "account",
    "brandvx": "account",
}
# One-line summaries of the model operations (a viewset's own actions say theirs).
CRUD_SUMMARIES = {
    "list": "List {many}",
    "create": "Create {one}",
    "retrieve": "Read {one}",
    "update": "Replace {one}",
    "partial_update": "Change {one}",
    "destroy": "Delete {one}",
}


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    sentence = re.split(r"(?<=[.!?:])\s", text, maxsplit=1)[0].rstrip(".:")
    return sentence if len(sentence) <= 120 else sentence[:117].rsplit(" ", 1)[0] + "..."


class BrandVXAutoSchema(AutoSchema):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._directions: list[str] = []  # of the serializers being mapped (nested ones too)

    def get_override_parameters(self) -> list[OpenApiParameter | _SerializerType]:
        parameters = list(super().get_override_parameters())
        # `resolves_tenant`: set by tenants.views.RequestContextMixin (common knows no app).
        if getattr(self.view, "resolves_tenant", False):
            parameters.append(TENANT_HEADER)
        return parameters

    def get_tags(self) -> list[str]:
        area = type(self.view).__module__.split(".")[0]
        return [AREA_TAGS[area]] if area in AREA_TAGS else super().get_tags()

    def get_summary(self) -> str | None:
        declared = super().get_summary()
        if declared:
            return declared
        action = getattr(self.view, "action", None)
        model = getattr(getattr(self.view, "queryset", None), "model", None)
        one = many = ""
        if model is not None:
            name = str(model._meta.verbose_name)
            one = f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"
            many = str(model._meta.verbose_name_plural)
        if model is not None and action in CRUD_SUMMARIES:
            return CRUD_SUMMARIES[action].format(one=one, many=many)
        # The handler's own first sentence, else (a plain view) the view's, else its name.
        handler_doc = get_doc(getattr(self.view, action or self.method.lower(), None))
        if handler_doc:
            return _first_sentence(handler_doc)
        if action is not None and model is not None:
            return f"{action.replace('_', ' ').capitalize()} {one}"
        view_doc = get_doc(type(self.view))
        if view_doc:
            return _first_sentence(view_doc)
        return f"{self.method.title()} {self.view.get_view_name()}"

    def _error_statuses(self) -> set[int]:
        statuses = {400}
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            statuses.add(415)
        if any(requirement for requirement in self.get_auth()):
            statuses |= {401, 403, 429}
            # tenants.views: a business pending deletion is read-only to its tenant endpoints
            # (those that have the attribute), but the ones that set it.
            pending_deletion_refused = getattr(self.view, "allowed_while_pending_deletion", None) is False
            if self.method in ("POST", "PUT", "PATCH", "DELETE") and pending_deletion_refused:
                statuses.add(423)
        if "{" in self.path:
            statuses.add(404)
        declared = getattr(self.view, "error_statuses", {})
        action = getattr(self.view, "action", None) or self.method.lower()
        statuses |= set(declared.get(action, ())) | set(declared.get("*", ()))
        return statuses

    def _get_response_bodies(self, direction: Direction = "response") -> _SchemaType:
        responses = super()._get_response_bodies(direction)
        component = ResolvedComponent(
            name="Error",
            type=ResolvedComponent.SCHEMA,
            object="Error",
            schema=ERROR_SCHEMA,
        )
        self.registry.register_on_missing(component)
        media_types = self.map_renderers("media_type") or ["application/json"]
        for status in sorted(self._error_statuses()):
            key = str(status)
            existing = responses.get(key, {})
            if existing.get("content"):
                continue
            responses[key] = {
                "description": existing.get("description") or ERROR_DESCRIPTIONS.get(status, "Error."),
                "content": {media_type: {"schema": component.ref} for media_type in media_types},
            }
        return responses

    def _get_parameters(self) -> list[_SchemaType]:
        parameters = super()._get_parameters()
        for parameter in parameters:
            _bound_dates(parameter.get("schema", {}))
        return parameters

    def _insert_field_validators(self, field: serializers.Field[Any, Any, Any, Any], schema: _SchemaType) -> None:
        """Limits DRF enforces without a validator object, which drf-spectacular misses:
        non-empty lists, ListSerializer lengths, non-blank strings."""
        super()._insert_field_validators(field, schema)
        target = schema
        if self._directions and self._directions[-1] == "response":
            # Limits on what may be sent; what is read may predate them (imports, old rows).
            if getattr(field, "request_only_limits", False):
                for key in ("minimum", "maximum"):
                    schema.pop(key, None)
            return
        if schema.get("type") == "array":
            if getattr(field, "allow_empty", True) is False:
                target["minItems"] = max(target.get("minItems", 0), 1)
            if isinstance(field, serializers.ListSerializer):
                # DRF sets both on every ListSerializer; djangorestframework-stubs omits them.
                max_length: int | None = getattr(field, "max_length", None)
                min_length: int | None = getattr(field, "min_length", None)
                if max_length is not None:
                    target["maxItems"] = max_length
                if min_length is not None:
                    target["minItems"] = min_length
        elif (
            schema.get("type") == "string"
            and isinstance(field, serializers.CharField)
            and not field.allow_blank
            and not field.read_only
        ):
            target.setdefault("minLength", 1)
            if field.trim_whitespace:
                # Surrounding whitespace is trimmed: the value needs a visible character.
                target.setdefault("pattern", r"\S")

    def _get_request_for_media_type(
        self, serializer: _SerializerType, direction: Direction = "request"
    ) -> tuple[_SchemaType, bool]:
        schema: _SchemaType
        required: bool
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if isinstance(force_instance(serializer), PolymorphicProxySerializer) and self.method != "PATCH":
            required = True  # every branch requires its discriminator (e.g. `provider`)
        return schema, required

    def _map_basic_serializer(self, serializer: serializers.Serializer[Any], direction: Direction) -> _SchemaType:
        self._directions.append(direction)
        try:
            schema: _SchemaType = super()._map_basic_serializer(serializer, direction)
        finally:
            self._directions.pop()
        if direction == "request" and isinstance(serializer, StrictFieldsMixin):
            schema["additionalProperties"] = False
        return schema


def _bound_dates(schema: _SchemaType) -> None:
    if schema.get("type") == "array":
        _bound_dates(schema.get("items", {}))
    elif schema.get("format") == "date":
        schema.setdefault("pattern", DATE_PATTERN)
    elif schema.get("format") == "date-time":
        schema.setdefault("pattern", DATETIME_PATTERN)


class StrictFilterExtension(DjangoFilterExtension):
    """django-filter parameters with the limits their filters enforce."""

    priority = 1

    def resolve_filter_field(
        self,
        auto_schema: AutoSchema,
        model: type[models.Model] | None,
        filterset_class: type[FilterSet],
        field_name: str,
        filter_field: Filter,
    ) -> list[_SchemaType]:
        parameters: list[_SchemaType] = super().resolve_filter_field(
            auto_schema, model, filterset_class, field_name, filter_field
        )
        extra = getattr(filter_field, "extra", {})
        for parameter in parameters:
            schema = parameter["schema"]
            target = schema["items"] if schema.get("type") == "array" else schema
            if "min_value" in extra:
                target["minimum"] = extra["min_value"]
            if "max_value" in extra:
                target["maximum"] = extra["max_value"]
            if "max_length" in extra:
                target["maxLength"] = extra["max_length"]
        return parameters


# --- fair share (issue 28): rate-limit headers and the statement timeout ------------------

RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "Requests allowed in the window of the limit closest to running out "
    "(the tenant's sustained rate, its burst, or the caller's own share within the tenant).",
    "RateLimit-Remaining": "Requests left in that window.",
    "RateLimit-Reset": "Seconds until that window frees a request.",
    "RateLimit-Policy": "Every limit that applies, as `<requests>;w=<seconds>`, comma-separated.",
}
RATE_LIMITED_DESCRIPTION = (
    "Too many requests: `rate_limited` when the tenant (or you within it) is over its rate limit "
    "(wait `Retry-After` seconds), `too_many_auth_failures` after repeated failed authentications "
    "from this address."
)
STATEMENT_TIMEOUT_DESCRIPTION = (
    "`statement_timeout`: the request ran too long in the database and was stopped, nothing was "
    "changed; retry, or ask for less. `service_unavailable`: a backing service (the job queue) is "
    "unavailable."
)


def rate_limit_postprocessing_hook(
    result: _SchemaType, generator: SchemaGenerator, request: Request | None, public: bool
) -> _SchemaType:
    """drf-spectacular POSTPROCESSING_HOOKS entry: on every operation of a tenant endpoint
    (a view throttled by tenants.auth.ratelimit.TenantRateThrottle), every response documents the
    RateLimit-* headers (but 401 and 403, refused before the limiter), 429 documents `rate_limited` with Retry-After, and 503 documents
    `statement_timeout` (tenants.context sets the timeout on every tenant request)."""
    limited: set[tuple[str, str]] = set()
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or []:
        view_class = getattr(callback, "cls", None)
        throttles = getattr(view_class, "throttle_classes", ()) if view_class else ()
        # `sends_rate_limit_headers`: set by tenants.auth.ratelimit.TenantRateThrottle.
        if any(getattr(throttle, "sends_rate_limit_headers", False) for throttle in throttles):
            limited.add((path, method.lower()))
    error_ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if (path, method) not in limited:
                continue
            responses = operation.setdefault("responses", {})
            for status in ("429", "503"):
                media = {"application/json": {"schema": error_ref}}
                responses.setdefault(status, {"description": "", "content": media})
            responses["429"]["description"] = RATE_LIMITED_DESCRIPTION
            responses["503"]["description"] = STATEMENT_TIMEOUT_DESCRIPTION
            for status, response in responses.items():
                if status in ("401", "403"):
                    continue  # refused before the limiter counts the request: no headers
                headers = response.setdefault("headers", {})
                for name in RATE_LIMIT_HEADERS:
                    headers[name] = {"$ref": f"#/components/headers/{name}"}
                if status == "429":
                    headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if limited:
        components = result.setdefault("components", {}).setdefault("headers", {})
        for name, description in RATE_LIMIT_HEADERS.items():
            kind = "string" if name == "RateLimit-Policy" else "integer"
            components[name] = {"schema": {"type": kind}, "description": description}
        components["Retry-After"] = {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}
    return result
