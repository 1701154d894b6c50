"""The edge: every error becomes one JSON body, `{code, detail[, fields]}`, in one DRF exception
handler (and Django's handler400/404/500). Domain errors (`common.errors`) get their status
here, once.

Clients get a stable `code` and a human message; internals (SQL, tracebacks) stay in the
server log.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common import errors

logger = logging.getLogger("common.errors")


class HttpError(exceptions.APIException):
    """Errors of the HTTP perimeter itself (authentication, tenant selection, rate limits,
    request parsing), raised before or around a view, where the status is the point. Services
    and selectors raise `common.errors` instead. Subclasses set `status_code`, `code` and
    `default_detail`."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code = "error"
    default_detail = "The request could not be processed."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.default_detail, code or self.code)
        self.code = code or self.code
        self.fields = fields or {}
        self.extra = extra or {}  # documented keys of its own (e.g. `choices` of tenant_required)


# Each kind of domain error answers with one status (most specific class first).
DOMAIN_STATUS: tuple[tuple[type[errors.DomainError], int], ...] = (
    (errors.InvalidInput, status.HTTP_400_BAD_REQUEST),
    (errors.NotFound, status.HTTP_404_NOT_FOUND),
    (errors.Conflict, status.HTTP_409_CONFLICT),
    (errors.Gone, status.HTTP_410_GONE),
    (errors.Locked, status.HTTP_423_LOCKED),
    (errors.Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
    (errors.DomainError, status.HTTP_500_INTERNAL_SERVER_ERROR),
)


def domain_status(exc: errors.DomainError) -> int:
    return next(code for kind, code in DOMAIN_STATUS if isinstance(exc, kind))


def _statement_timed_out(exc: BaseException) -> bool:
    # Django wraps psycopg's error; 57014 is query_canceled (statement_timeout, or a cancel).
    return isinstance(exc, DatabaseError) and isinstance(exc.__cause__, psycopg.errors.QueryCanceled)


_DEFAULT_CODES = {
    400: "invalid_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler404: a path no route matches (e.g. an id that is not one) answers like the API."""
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler400: what Django refuses before any view (e.g. a body above the upload limit)."""
    return JsonResponse({"code": "invalid_request", "detail": "The request could not be read."}, status=400)


def server_error(request: HttpRequest) -> JsonResponse:
    """handler500: internals stay in the log."""
    return JsonResponse({"code": "error", "detail": errors.DomainError.default_detail}, status=500)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif _statement_timed_out(exc):
        request = context.get("request")
        tenant = getattr(request, "tenant", None)
        logger.warning(
            "statement timeout: tenant %s, %s %s: %s",
            tenant and tenant.id,
            getattr(request, "method", ""),
            getattr(request, "path", ""),
            exc,
        )
        exc = errors.StatementTimeout()

    if isinstance(exc, errors.DomainError):
        status_code = domain_status(exc)
        if status_code == 500:
            logger.error("server error %s: %s", exc.code, exc.detail, exc_info=exc)
            return Response({"code": exc.code, "detail": errors.DomainError.default_detail}, status=500)
        return Response(error_body(exc.code, exc.detail, exc.fields, exc.extra), status=status_code)

    if isinstance(exc, HttpError):
        if exc.status_code >= 500:
            logger.error("server error %s: %s", exc.code, exc.detail, exc_info=exc)
        return Response(
            error_body(exc.code, str(exc.detail), exc.fields, exc.extra),
            status=exc.status_code,
            headers=_auth_headers(exc),
        )

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django logs it and returns a plain 500
    data = response.data
    code = _DEFAULT_CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("validation_error", errors.InvalidInput.default_detail, data)
    else:
        detail = data.get("detail", data) if isinstance(data, dict) else data
        exc_code = getattr(detail, "code", None)
        if exc_code and exc_code not in ("invalid", "error"):
            code = exc_code
        # `fields`: what a DRF exception of ours names (common.parsers.DuplicateKey).
        response.data = error_body(code, str(detail), getattr(exc, "fields", None))
    return response


def error_body(code: str, detail: str, fields: object = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error shape: `code`, `detail`, and `fields` ({input: [messages]}) when inputs
    are at fault; an error may add documented keys of its own (`extra`)."""
    body: dict[str, Any] = {"code": code, "detail": detail}
    if fields:
        body["fields"] = fields
    if extra:
        body.update(extra)
    return body


def _auth_headers(exc: HttpError) -> dict[str, str]:
    if exc.status_code == 401:
        return {"WWW-Authenticate": 'Bearer realm="api"'}
    if exc.status_code == 429:
        return {"Retry-After": str(getattr(exc, "wait", 60))}
    return {}
