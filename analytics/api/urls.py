from django.urls import path
from rest_framework.routers import SimpleRouter

from analytics.api import views

router = SimpleRouter()
router.register("service-categories", views.ServiceCategoryViewSet, basename="service-category")
router.register("services", views.ServiceViewSet, basename="service")
router.register("appointments", views.AppointmentViewSet, basename="appointment")
router.register("transactions", views.TransactionViewSet, basename="transaction")

urlpatterns = [
    path("analytics/dashboard/", views.DashboardView.as_view(), name="analytics-dashboard"),
    path("analytics/revenue-by-service/", views.RevenueByServiceView.as_view(), name="analytics-revenue-by-service"),
    path("analytics/revenue-timeseries/", views.RevenueTimeseriesView.as_view(), name="analytics-revenue-timeseries"),
    path("analytics/top-clients/", views.TopClientsView.as_view(), name="analytics-top-clients"),
    *router.urls,
]
