from django.urls import path
from rest_framework.routers import SimpleRouter

from campaigns.api.views import BirthdayBatchView, CampaignSettingsView, MessageDraftViewSet

router = SimpleRouter()
router.register("message-drafts", MessageDraftViewSet, basename="message-draft")

urlpatterns = [
    path("campaigns/birthday-batch/", BirthdayBatchView.as_view(), name="birthday-batch"),
    path("campaigns/settings/", CampaignSettingsView.as_view(), name="campaigns-settings"),
    *router.urls,
]
