"""One small error hierarchy, mapped to JSON `{code, detail}` by one DRF exception handler.

Clients get a stable `code` and a human message; internals (SQL, tracebacks) stay in the
server log.
"""

from __future__ import annotations

import logging

import psycopg
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("brandvx.errors")


class BrandVXError(exceptions.APIException):
    """Base of our own errors. Subclasses set `status_code`, `code` and `default_detail`."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code = "error"
    default_detail = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, code: str | None = None, extra: dict | None = None):
        super().__init__(detail or self.default_detail, code or self.code)
        self.code = code or self.code
        self.extra = extra or {}


class InvalidParameter(BrandVXError):
    code = "invalid_parameter"
    default_detail = "A parameter is invalid."

    def __init__(self, parameter: str, detail: str):
        super().__init__(f"{parameter}: {detail}", extra={"parameter": parameter})


class ConfirmationMismatch(BrandVXError):
    """An irreversible action (an erasure, a business's deletion) whose `confirm` does not
    repeat what it acts on."""

    code = "confirmation_mismatch"
    default_detail = "`confirm` must repeat exactly what the request acts on; nothing was done."


class Conflict(BrandVXError):
    """409: the request is well formed but contradicts what is stored: a value that must be
    unique is already used ("name is already used"), or the object's state does not allow it
    ("already fully refunded"). `parameter` names the input at fault."""

    status_code = status.HTTP_409_CONFLICT
    code = "conflict"
    default_detail = "The request conflicts with the current state of the data."

    def __init__(self, parameter: str, detail: str):
        super().__init__(f"{parameter}: {detail}", extra={"parameter": parameter})


class ServiceUnavailable(BrandVXError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "service_unavailable"
    default_detail = "A backing service is unavailable; try again shortly."


class StatementTimeout(BrandVXError):
    """A statement ran past its statement_timeout (DATABASE_STATEMENT_TIMEOUT_MS, set with the
    tenant context): the request did too much at once, or waited on a lock too long."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "statement_timeout"
    default_detail = "The request took too long in the database and was stopped; nothing was changed. Retry, or ask for less (a shorter period, a smaller page)."


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


def not_found(request, exception=None):
    """handler404: a path no route matches (e.g. an id that is not one) answers like the API."""
    from django.http import JsonResponse

    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)


def bad_request(request, exception=None):
    """handler400: what Django refuses before any view (e.g. a body above the upload limit)."""
    from django.http import JsonResponse

    return JsonResponse({"code": "invalid_request", "detail": "The request could not be read."}, status=400)


def server_error(request):
    """handler500: internals stay in the log."""
    from django.http import JsonResponse

    return JsonResponse({"code": "error", "detail": BrandVXError.default_detail}, status=500)


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif _statement_timed_out(exc):
        request = context.get("request")
        logger.warning(
            "statement timeout: tenant %s, %s %s: %s",
            getattr(request, "tenant", None) and request.tenant.id,
            getattr(request, "method", ""),
            getattr(request, "path", ""),
            exc,
        )
        exc = StatementTimeout()

    if isinstance(exc, BrandVXError):
        if isinstance(exc, StatementTimeout):
            body = {"code": exc.code, "detail": str(exc.detail)}
        elif exc.status_code >= 500:
            logger.error("server error %s: %s", exc.code, exc.detail, exc_info=exc)
            body = {
                "code": exc.code,
                "detail": str(BrandVXError.default_detail if exc.status_code == 500 else exc.detail),
            }
        else:
            body = {"code": exc.code, "detail": str(exc.detail), **exc.extra}
        return Response(body, status=exc.status_code, headers=_auth_headers(exc, context))

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django logs it and returns a plain 500
    data = response.data
    code = _DEFAULT_CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"code": "validation_error", "detail": "The request has invalid fields.", "fields": data}
    else:
        detail = data.get("detail", data) if isinstance(data, dict) else data
        exc_code = getattr(detail, "code", None)
        if exc_code and exc_code not in ("invalid", "error"):
            code = exc_code
        # `extra`: what a non-BrandVXError of ours adds (brandvx.parsers.DuplicateKey: `parameter`).
        response.data = {"code": code, "detail": str(detail), **getattr(exc, "extra", {})}
    return response


def _auth_headers(exc, context) -> dict:
    if exc.status_code == 401:
        return {"WWW-Authenticate": 'Bearer realm="api"'}
    if exc.status_code == 429:
        return {"Retry-After": str(getattr(exc, "wait", 60))}
    return {}
