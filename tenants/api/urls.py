from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api.views import BackgroundJobViewSet, ChangeRecordViewSet, MeView, SupportAccessViewSet

router = SimpleRouter()
router.register("jobs", BackgroundJobViewSet, basename="job")
router.register("audit-log", SupportAccessViewSet, basename="audit-log")
router.register("change-log", ChangeRecordViewSet, basename="change-log")

urlpatterns = [path("me/", MeView.as_view(), name="me"), *router.urls]
