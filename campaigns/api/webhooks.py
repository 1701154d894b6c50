"""Webhooks of messaging: Twilio (inbound replies, status callbacks) and the ESP's tracking
events (django-anymail). No user, no tenant header: Twilio's signature made with the tenant's
own auth token, or anymail's basic auth, is the authority. A missing or bad one is 403 and
nothing is recorded."""

from __future__ import annotations

import logging
import uuid
import warnings

from anymail.exceptions import AnymailInsecureWebhookWarning, AnymailWebhookValidationFailure
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailjet import MailjetTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from django.core.exceptions import SuspiciousOperation
from django.http import HttpResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import BaseParser, FormParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView
from twilio.twiml.messaging_response import MessagingResponse

from campaigns import delivery
from campaigns.rules import ReplyAction
from common.query import StrictQueryParametersMixin
from tenants.context import tenant_context

logger = logging.getLogger("brandvx.campaigns.webhooks")

# ESPs whose tracking webhooks anymail authenticates with WEBHOOK_SECRET (basic auth) alone.
# (SendGrid is left out: anymail 15 dropped its official support.)
EMAIL_TRACKING_VIEWS = {
    "postmark": PostmarkTrackingWebhookView,
    "mailjet": MailjetTrackingWebhookView,
    "brevo": BrevoTrackingWebhookView,
}


SIGNATURE_REFUSED = OpenApiResponse(
    description="X-Twilio-Signature is missing or not the tenant's own over PUBLIC_BASE_URL + path; nothing recorded."
)


def forbidden() -> Response:
    return Response({"code": "invalid_signature", "detail": "The webhook signature is missing or invalid."}, status=403)


class _TwilioWebhookView(StrictQueryParametersMixin, APIView):
    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list[type[BaseThrottle]] = []
    parser_classes = [FormParser]  # Twilio posts application/x-www-form-urlencoded
    error_statuses = {"post": {403}}

    def _verified(self, request: Request, tenant_id: uuid.UUID) -> bool:
        """Inside the tenant's context: the signature over PUBLIC_BASE_URL + path, made with
        the tenant's own auth token."""
        return delivery.twilio_signature_valid(
            auth_token=delivery.twilio_auth_token(tenant_id),
            url=delivery.twilio_signed_url(request.get_full_path()),
            params=request._request.POST,
            signature=request.headers.get("X-Twilio-Signature", ""),
        )


class TwilioSmsWebhookView(_TwilioWebhookView):
    """Twilio's inbound message webhook: STOP (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT)
    withdraws, START (YES, UNSTOP) grants SMS consent of the clients with that `From` number
    in this tenant; HELP answers with the salon's name. Answers TwiML."""

    @extend_schema(
        request=None,  # Twilio's form fields, as Twilio sends them (not ours to constrain)
        responses={(200, "text/xml"): OpenApiTypes.STR, 403: SIGNATURE_REFUSED},
        parameters=[OpenApiParameter("X-Twilio-Signature", str, OpenApiParameter.HEADER, required=True)],
        auth=[],
    )
    def post(self, request: Request, tenant_id: uuid.UUID) -> HttpResponseBase:
        with tenant_context(tenant_id, role="system"):
            if not self._verified(request, tenant_id):
                return forbidden()
            reply = delivery.sms_reply_record(
                tenant_id=tenant_id, from_number=request.POST.get("From", ""), body=request.POST.get("Body", "")
            )
        logger.info("twilio reply %s for %d client(s)", reply.action, reply.clients)
        twiml = MessagingResponse()
        if reply.action == ReplyAction.HELP:
            twiml.message(f"{reply.business_name}: birthday messages. Reply STOP to opt out, START to opt back in.")
        # STOP and START: Twilio itself confirms to the sender (its opt-out handling); no second text.
        return HttpResponse(str(twiml), content_type="text/xml")


class TwilioStatusWebhookView(_TwilioWebhookView):
    """Twilio's message status callback (the StatusCallback passed on send): the draft's
    `delivery_status` follows (`delivered`, `undelivered`, `failed`)."""

    @extend_schema(
        request=None,  # Twilio's form fields, as Twilio sends them (not ours to constrain)
        responses={204: None, 403: SIGNATURE_REFUSED},
        parameters=[OpenApiParameter("X-Twilio-Signature", str, OpenApiParameter.HEADER, required=True)],
        auth=[],
    )
    def post(self, request: Request, tenant_id: uuid.UUID) -> HttpResponseBase:
        with tenant_context(tenant_id, role="system"):
            if not self._verified(request, tenant_id):
                return forbidden()
            delivery.sms_status_record(
                message_sid=request.POST.get("MessageSid", ""),
                twilio_status=request.POST.get("MessageStatus", ""),
                to=request.POST.get("To", ""),
            )
        return Response(status=204)


class EmailTrackingWebhookView(StrictQueryParametersMixin, APIView):
    """The ESP's tracking webhook, parsed and authenticated by django-anymail (basic auth with
    ANYMAIL_WEBHOOK_SECRET in the URL given to the ESP). A hard bounce or a spam complaint
    withdraws the client's e-mail consent; delivery statuses reach the draft."""

    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list[type[BaseThrottle]] = []
    parser_classes: list[type[BaseParser]] = []  # anymail reads the raw body
    error_statuses = {"post": {403, 404}}

    @extend_schema(
        request=None,  # the ESP's own payload, parsed by anymail
        responses={
            200: None,
            403: OpenApiResponse(
                description="The basic auth is missing or wrong (or no secret is set); nothing recorded."
            ),
            404: OpenApiResponse(description="Not an email provider this endpoint serves."),
        },
        parameters=[OpenApiParameter("esp", str, OpenApiParameter.PATH, enum=sorted(EMAIL_TRACKING_VIEWS))],
        auth=[],
    )
    def post(self, request: Request, esp: str) -> HttpResponseBase:
        view_class = EMAIL_TRACKING_VIEWS.get(esp)
        if view_class is None:
            return Response({"code": "not_found", "detail": "Unknown email provider."}, status=404)
        with warnings.catch_warnings():
            # anymail only warns when WEBHOOK_SECRET is unset; here that is refused below.
            warnings.simplefilter("ignore", AnymailInsecureWebhookWarning)
            view = view_class()
        if not view.basic_auth:
            logger.error("email tracking webhook received but ANYMAIL_WEBHOOK_SECRET is not set")
            return forbidden()
        try:
            view.run_validators(request._request)
            events = view.parse_events(request._request)
        except (AnymailWebhookValidationFailure, SuspiciousOperation):
            return forbidden()
        for event in events:
            view.signal.send(sender=view_class, event=event, esp_name=view.esp_name)
        return HttpResponse()
