"""Signed provider webhooks. No user, no tenant context on arrival: the signature proves the
sender, a routing row names the tenant, and everything after runs in that tenant's context.

Settings (or environment variables of the same name):
- SQUARE_WEBHOOK_SIGNATURE_KEY: the subscription's signature key;
- SQUARE_WEBHOOK_NOTIFICATION_URL: the exact URL registered with Square (it is signed).
Acuity signs with each account's API key, which stays encrypted on the connection.

Both endpoints answer fast: they record and enqueue; a task fetches and upserts.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import permissions
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import InvalidInput
from common.parsers import strict_json_loads
from common.query import StrictQueryParametersMixin
from integrations import inbound
from integrations.models import ConnectionRoute
from integrations.routing import unscoped_route_find, unscoped_routes_find

logger = logging.getLogger("brandvx.integrations.webhooks")

# Provider bodies nest a few levels; anything deeper than this is refused before parsing.
WEBHOOK_MAX_JSON_DEPTH = 64


def _setting(name: str) -> str:
    return getattr(settings, name, None) or ""


def invalid_signature() -> Response:
    # Answered, not raised: nothing was written, and no transaction is left to roll back.
    return Response(
        {"code": "invalid_signature", "detail": "The webhook signature is missing or invalid."},
        status=401,
        headers={"WWW-Authenticate": 'Signature realm="webhooks"'},
    )


class _WebhookView(StrictQueryParametersMixin, APIView):
    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list[Any] = []
    error_statuses = {"post": {401}}  # a missing or wrong signature


class SquareWebhookView(_WebhookView):
    @extend_schema(summary="Receive a Square webhook event", request=None, responses={200: None}, auth=[])
    def post(self, request: Request) -> Response:
        raw = request.body
        key = _setting("SQUARE_WEBHOOK_SIGNATURE_KEY")
        url = _setting("SQUARE_WEBHOOK_NOTIFICATION_URL")
        if not key or not url:
            logger.error("square webhook received but SQUARE_WEBHOOK_SIGNATURE_KEY / _NOTIFICATION_URL are not set")
        signature = request.headers.get("x-square-hmacsha256-signature", "")
        if not inbound.signature_valid(key=key, message=url.encode() + raw, signature=signature):
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
            inbound.square_webhook_event_record(
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
    def post(self, request: Request, token: str = "") -> Response:
        raw = request.body
        signature = request.headers.get("X-Acuity-Signature", "")
        route = unscoped_route_find(kind=ConnectionRoute.Kind.ACUITY_WEBHOOK, lookup=token)
        if route is None:
            return invalid_signature()
        outcome = inbound.acuity_webhook_receive(
            tenant_id=route.tenant_id, connection_id=route.connection_id, body=raw, signature=signature
        )
        if outcome == "invalid_signature":
            return invalid_signature()
        return Response({"status": outcome})


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
