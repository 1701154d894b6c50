from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api.views import (
    BackgroundJobViewSet,
    ChangeRecordViewSet,
    MeView,
    SupportAccessViewSet,
    TenantDeleteCancelView,
    TenantDeleteView,
    TenantExportDownloadView,
    TenantExportView,
)

router = SimpleRouter()
router.register("jobs", BackgroundJobViewSet, basename="job")
router.register("audit-log", SupportAccessViewSet, basename="audit-log")
router.register("change-log", ChangeRecordViewSet, basename="change-log")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("tenant/delete/", TenantDeleteView.as_view(), name="tenant-delete"),
    path("tenant/delete/cancel/", TenantDeleteCancelView.as_view(), name="tenant-delete-cancel"),
    path("tenant/export/", TenantExportView.as_view(), name="tenant-export"),
    path("tenant/export/<uuid:job_id>/download/", TenantExportDownloadView.as_view(), name="tenant-export-download"),
    *router.urls,
]
