from django.db import transaction
from django.urls import path
from rest_framework.routers import SimpleRouter

from integrations.api.views import CustomCrmImportView, IntegrationConnectionViewSet, IntegrationSyncView
from integrations.api.webhooks import AcuityWebhookView, AcuityWebhookWithoutTokenView, SquareWebhookView

router = SimpleRouter()
router.register("integrations", IntegrationConnectionViewSet, basename="integration")

# Webhooks and the custom CRM push open their own tenant transactions once they know the
# tenant (non-atomic: no request-wide transaction around the unauthenticated lookup).
urlpatterns = [
    path(
        "integrations/custom_crm/import/",
        transaction.non_atomic_requests(CustomCrmImportView.as_view()),
        name="custom-crm-import",
    ),
    path("integrations/<str:provider>/sync/", IntegrationSyncView.as_view(), name="integration-sync"),
    path("webhooks/square/", transaction.non_atomic_requests(SquareWebhookView.as_view()), name="webhook-square"),
    path(
        "webhooks/acuity/",
        transaction.non_atomic_requests(AcuityWebhookWithoutTokenView.as_view()),
        name="webhook-acuity",
    ),
    path(
        "webhooks/acuity/<str:token>/",
        transaction.non_atomic_requests(AcuityWebhookView.as_view()),
        name="webhook-acuity",
    ),
    *router.urls,
]
