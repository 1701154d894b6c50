from django.db import transaction
from django.urls import path
from rest_framework.routers import SimpleRouter

from campaigns.api.views import BirthdayBatchView, CampaignSettingsView, MessageDraftViewSet
from campaigns.api.webhooks import EmailTrackingWebhookView, TwilioSmsWebhookView, TwilioStatusWebhookView

router = SimpleRouter()
router.register("message-drafts", MessageDraftViewSet, basename="message-draft")

# Webhooks open their tenant's transaction themselves (non-atomic: no request-wide transaction
# around an unauthenticated request).
urlpatterns = [
    path("campaigns/birthday-batch/", BirthdayBatchView.as_view(), name="birthday-batch"),
    path("campaigns/settings/", CampaignSettingsView.as_view(), name="campaigns-settings"),
    path(
        "webhooks/twilio/<uuid:tenant_id>/sms/",
        transaction.non_atomic_requests(TwilioSmsWebhookView.as_view()),
        name="webhook-twilio-sms",
    ),
    path(
        "webhooks/twilio/<uuid:tenant_id>/status/",
        transaction.non_atomic_requests(TwilioStatusWebhookView.as_view()),
        name="webhook-twilio-status",
    ),
    path(
        "webhooks/email/<str:esp>/",
        transaction.non_atomic_requests(EmailTrackingWebhookView.as_view()),
        name="webhook-email",
    ),
    *router.urls,
]
