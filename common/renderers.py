"""The API's JSON renderer: DRF's output, byte for byte, written by orjson.

DRF's JSONRenderer encodes with the standard library and calls back into Python for every
date, time and id (a 50-row client list has some 200 of them); orjson writes the same JSON
in a fraction of the time. Written here rather than taken from a package (drf-orjson-renderer)
because the promise is DRF's exact bytes, which the schema, the tests and the clients read:
  - dates and times as DRF writes them (ISO 8601, UTC as `Z`), ids as text;
  - U+2028 and U+2029 escaped, as DRF does (JSON that is also valid JavaScript);
  - anything orjson does not know (Decimal, lazy text, querysets, ...) goes through DRF's own
    encoder's `default`, and what orjson refuses (integers past 64 bits) or cannot do (an
    indent other than 2, asked for with `Accept: application/json; indent=4`) is rendered by
    DRF's renderer itself.
Floats are written in the same shortest form, except that exponents are spelt without padding
(1e-7 where the standard library writes 1e-07: the same number). One difference is left on purpose: a float NaN or infinity, which DRF refuses with an error
(a 500), is written as null. No response carries a float from the database (money is integer
minor units, counts are integers); checking every response for NaN would cost more than the
encoding saves.
tests: brandvx/tests/test_renderers.py compares both renderers on the same data.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.request import is_form_media_type, override_method
from rest_framework.utils.encoders import JSONEncoder

_ORJSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
# What orjson does not know (Decimal, lazy text, querysets, ...): DRF's encoder's answer.
_drf_default = JSONEncoder().default
_LINE_SEPARATOR, _PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type or "", renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            rendered = orjson.dumps(data, default=_drf_default, option=_ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: e.g. an integer past 64 bits
            return super().render(data, accepted_media_type, renderer_context)
        if _LINE_SEPARATOR in rendered or _PARAGRAPH_SEPARATOR in rendered:
            rendered = rendered.replace(_LINE_SEPARATOR, b"\\u2028").replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
        return rendered


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API, with forms that keep what a person typed (issue 23):

    - after a 400, the form of the method that failed is bound to what was submitted and shows
      each field's error beside it (DRF does so only when the response still carries its
      serializer, which the project's error body, `{code, detail, fields}`, does not), and the
      "Raw data" tab shows the submitted JSON;
    - the "Raw data" pre-fill is a body the server accepts as shown: a new object's fields at
      their defaults, optional fields without one left out (no `"birthday": null` beside a
      birth year, no `"source": null`);
    - a list's Filters button stays after an error (DRF shows it only beside a page of results);
    - a tenant endpoint that answered before knowing its tenant (not signed in, no membership,
      an expired sign-in) shows its answer without forms: they would need the tenant.
    """

    @staticmethod
    def _without_tenant(view: Any) -> bool:
        # `tenant_scoped`: set by tenants.views.TenantScopedMixin (common knows no app).
        return getattr(view, "tenant_scoped", False) and not hasattr(view, "membership")

    def _failed(self, request: Any, method: str) -> bool:
        response = (getattr(self, "renderer_context", None) or {}).get("response")
        return response is not None and response.status_code == 400 and request.method == method

    @staticmethod
    def _instance(view: Any) -> Any:
        """The object a detail page's PUT/PATCH form edits, looked up again after an error."""
        lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
        if not lookup or lookup not in (getattr(view, "kwargs", None) or {}) or not hasattr(view, "get_object"):
            return None
        try:
            return view.get_object()
        except Exception:  # noqa: BLE001 - no object, no form bound to it; the page still renders
            return None

    @staticmethod
    def _submitted(request: Any) -> Any:
        try:
            return request.data
        except Exception:  # noqa: BLE001 - an unreadable body: nothing to show again
            return None

    def get_rendered_html_form(self, data: Any, view: Any, method: str, request: Any) -> Any:
        if self._without_tenant(view):
            return None
        if method in ("DELETE", "OPTIONS") or not self._failed(request, method) or not hasattr(view, "get_serializer"):
            return super().get_rendered_html_form(data, view, method, request)
        submitted = self._submitted(request)
        if submitted is None:
            return super().get_rendered_html_form(data, view, method, request)
        with override_method(view, request, method) as overridden:
            instance = self._instance(view) if method in ("PUT", "PATCH") else None
            if not self.show_form_for_method(view, method, overridden, instance):
                return None
            if not any(is_form_media_type(parser.media_type) for parser in view.parser_classes):
                return None
            kwargs = {"instance": instance} if instance is not None else {}
            serializer = view.get_serializer(data=submitted, **kwargs)
            serializer.is_valid()
            # The response's own field errors (the services' too, which the serializer did
            # not see) beside their fields.
            fields = data.get("fields") if isinstance(data, dict) else None
            if isinstance(fields, dict):
                for name, messages in fields.items():
                    serializer._errors.setdefault(name, messages if isinstance(messages, list) else [messages])
            return self.render_form_for_serializer(serializer)

    def get_raw_data_form(self, data: Any, view: Any, method: str, request: Any) -> Any:
        if self._without_tenant(view):
            return None
        form = super().get_raw_data_form(data, view, method, request)
        if form is None or not hasattr(view, "get_serializer"):
            return form
        content = None
        submitted = self._submitted(request) if self._failed(request, method) else None
        if isinstance(submitted, dict) and not hasattr(submitted, "getlist"):
            content = submitted  # the JSON that failed, to correct and send again
        elif method == "POST":
            with override_method(view, request, method):
                content = _accepted_defaults(view.get_serializer())
        elif method in ("PUT", "PATCH"):
            return form
        if content is not None:
            form.fields["_content"].initial = JSONRenderer().render(content, "application/json; indent=4", {}).decode()
        return form

    def get_filter_form(self, data: Any, view: Any, request: Any) -> Any:
        if self._without_tenant(view):
            return None
        response = (getattr(self, "renderer_context", None) or {}).get("response")
        if response is not None and response.status_code >= 400 and getattr(view, "action", None) == "list":
            data = []  # a list that answered an error: its filters are still offered
        return super().get_filter_form(data, view, request)


def _accepted_defaults(serializer: Any) -> dict[str, Any] | None:
    """A new object's body as the server takes it: each writable field at its default, fields
    with neither a default nor a value to show (optional, or null not allowed) left out."""
    from rest_framework import serializers
    from rest_framework.fields import empty

    if isinstance(serializer, serializers.ListSerializer) or not hasattr(serializer, "fields"):
        return None
    body: dict[str, Any] = {}
    for name, field in serializer.fields.items():
        if field.read_only or isinstance(field, serializers.HiddenField):
            continue
        if field.default is not empty and not callable(field.default):
            body[name] = field.default
        elif field.required:
            initial = field.get_initial()
            if initial is not None or field.allow_null:
                body[name] = initial
    return body
