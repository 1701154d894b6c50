"""Signed provider webhooks. No user, no tenant context on arrival: the signature proves the
sender, a routing row names the tenant, and everything after runs in that tenant's context.

Settings (or environment variables of the same name):
- SQUARE_WEBHOOK_SIGNATURE_KEY: the subscription's signature key;
- SQUARE_WEBHOOK_NOTIFICATION_URL: the exact URL registered with Square (it is signed).
Acuity signs with each account's API key, which stays encrypted on the connection.

Both endpoints answer fast: they record and enqueue; a task fetches and upserts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from urllib.parse import parse_qs

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import permissions
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import InvalidInput
from common.parsers import strict_json_loads
from common.query import StrictQueryParametersMixin
from integrations import services
from integrations.models import ConnectionRoute, IntegrationConnection
from integrations.routing import unscoped_route_find, unscoped_routes_find
from tenants.context import tenant_context

logger = logging.getLogger("brandvx.integrations.webhooks")

ACUITY_ID = re.compile(r"[0-9]{1,20}")  # [0-9], not \d or isdigit(): ASCII digits only
# Acuity's actions: scheduled, rescheduled, canceled, changed, order.completed; lower-case
# ASCII words only (no NUL, nothing PostgreSQL refuses), stored on the WebhookEvent.
ACUITY_ACTION = re.compile(r"[a-z][a-z_.]{0,59}")
# Provider bodies nest a few levels; anything deeper than this is refused before parsing.
WEBHOOK_MAX_JSON_DEPTH = 64


def _acuity_fields(raw: bytes) -> dict[str, list[str]]:
    """The signed form body's fields, strictly: UTF-8, no NUL or lone surrogate (400)."""
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput("body", "is not UTF-8 form data") from None
    for key, values in fields.items():
        for text in (key, *values):
            if "\x00" in text or any("\ud800" <= char <= "\udfff" for char in text):
                raise InvalidInput(key if text is not key else "body", "contains a NUL or invalid character")
    return fields


def _setting(name: str) -> str:
    return getattr(settings, name, None) or ""


def signature_valid(*, key: str, message: bytes, signature: str) -> bool:
    if not key or not signature:
        return False
    expected = base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def invalid_signature() -> Response:
    # Answered, not raised: nothing was written, and no transaction is left to roll back.
    return Response(
        {"code": "invalid_signature", "detail": "The webhook signature is missing or invalid."},
        status=401,
        headers={"WWW-Authenticate": 'Signature realm="webhooks"'},
    )


class _WebhookView(StrictQueryParametersMixin, APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []
    error_statuses = {"post": {401}}  # a missing or wrong signature


class SquareWebhookView(_WebhookView):
    @extend_schema(summary="Receive a Square webhook event", request=None, responses={200: None}, auth=[])
    def post(self, request):
        raw = request.body
        key = _setting("SQUARE_WEBHOOK_SIGNATURE_KEY")
        url = _setting("SQUARE_WEBHOOK_NOTIFICATION_URL")
        if not key or not url:
            logger.error("square webhook received but SQUARE_WEBHOOK_SIGNATURE_KEY / _NOTIFICATION_URL are not set")
        signature = request.headers.get("x-square-hmacsha256-signature", "")
        if not signature_valid(key=key, message=url.encode() + raw, signature=signature):
            return invalid_signature()
        # Signed, yet still refused with 400 (never a 500): nesting deeper than
        # WEBHOOK_MAX_JSON_DEPTH (counted before parsing), a key named twice, NUL characters or
        # lone surrogates in any string (PostgreSQL stores neither; event_id is stored).
        try:
            body = strict_json_loads(raw, max_depth=WEBHOOK_MAX_JSON_DEPTH)
        except ParseError as exc:
            raise InvalidInput("body", f"is not acceptable JSON: {exc.detail}") from None
        if not isinstance(body, dict):
            raise InvalidInput("body", "must be a JSON object")
        merchant_id, event_id = str(body.get("merchant_id") or ""), str(body.get("event_id") or "")
        if not event_id:
            raise InvalidInput("event_id", "is required")
        routes = unscoped_routes_find(kind=ConnectionRoute.Kind.SQUARE_MERCHANT, lookup=merchant_id)
        if not routes:
            # 200 so Square stops retrying a merchant we do not serve (any more).
            logger.info("square webhook for unknown merchant %s ignored (event %s)", merchant_id, event_id)
            return Response({"status": "ignored"})
        # Every tenant whose own token Square confirmed for this merchant gets the event (see
        # models.ConnectionRoute); each re-fetches the object with its own token.
        outcomes = {
            services.square_webhook_event_record(
                tenant_id=route.tenant_id, connection_id=route.connection_id, body=body, event_id=event_id
            )
            for route in routes
        }
        status = next((s for s in ("accepted", "duplicate") if s in outcomes), "ignored")
        return Response({"status": status})


class AcuityWebhookView(_WebhookView):
    """Acuity posts form fields `action`, `id`, ... to the connection's own webhook URL
    (`/api/v1/webhooks/acuity/<token>/`, shown on the connection). The token only picks the
    connection; the X-Acuity-Signature made with that account's API key authenticates."""

    @extend_schema(summary="Receive an Acuity webhook event", request=None, responses={200: None}, auth=[])
    def post(self, request, token: str = ""):
        raw = request.body
        signature = request.headers.get("X-Acuity-Signature", "")
        route = unscoped_route_find(kind=ConnectionRoute.Kind.ACUITY_WEBHOOK, lookup=token)
        if route is None:
            return invalid_signature()
        from integrations.tasks import process_acuity_appointment

        with tenant_context(route.tenant_id, role="system"):
            connection = IntegrationConnection.objects.filter(id=route.connection_id).first()
            api_key = str((connection.credentials if connection else {}).get("api_key") or "")
            if not signature_valid(key=api_key, message=raw, signature=signature):
                return invalid_signature()
            fields = _acuity_fields(raw)
            appointment_id = (fields.get("id") or [""])[0]
            action = (fields.get("action") or [""])[0]
            if not ACUITY_ACTION.fullmatch(action):
                raise InvalidInput("action", "must be an Acuity action (e.g. scheduled)")
            # ASCII digits only: str.isdigit() also accepts '١٢٣' and '²', which are no Acuity id.
            if not ACUITY_ID.fullmatch(appointment_id):
                raise InvalidInput("id", "must be an Acuity appointment id")
            if connection.status != IntegrationConnection.Status.ACTIVE:
                return Response({"status": "ignored"})
            event = services.acuity_webhook_event_record(
                tenant_id=route.tenant_id, action=action[:60], appointment_id=appointment_id
            )
            if event is None:
                return Response({"status": "duplicate"})
            args = (str(route.tenant_id), str(route.connection_id), appointment_id, str(event.id))
            transaction.on_commit(lambda: process_acuity_appointment.delay(*args))
        return Response({"status": "accepted"})


@extend_schema_view(
    post=extend_schema(
        operation_id="webhooks_acuity_without_token",
        request=None,
        responses={401: None},
        auth=[],
        description="The contract path without a connection token: always 401. Configure Acuity with the "
        "connection's own `webhook_url` (`/api/v1/webhooks/acuity/<token>/`).",
    )
)
class AcuityWebhookWithoutTokenView(AcuityWebhookView):
    """Acuity accounts are told apart only by their per-connection URL."""
