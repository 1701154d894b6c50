"""URL map (paths are a contract: see ../shared/design/architecture.md and the README)."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from brandvx.api_root import ApiRootView
from campaigns.views import unsubscribe_page
from tenants.api.views import healthz

api_v1: list[URLPattern | URLResolver] = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("", include("tenants.api.urls")),
    path("", include("clients.api.urls")),
    path("", include("analytics.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("integrations.api.urls")),
]

# Errors outside the API views (no route, refused before a view) keep the JSON error shape.
handler400 = "common.http_errors.bad_request"
handler404 = "common.http_errors.not_found"
handler500 = "common.http_errors.server_error"

urlpatterns = [
    # The way in: the API root, which links every resource and the documentation.
    path("", RedirectView.as_view(pattern_name="api-root", permanent=False), name="home"),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/v1/", include(api_v1)),
    # One-click unsubscribe links in birthday messages (RFC 8058); the token is the authority.
    path("u/<str:token>/", unsubscribe_page, name="unsubscribe"),
    # The browsable API's sign-in with a Supabase token (DRF links to rest_framework:login).
    path("api-auth/", include("tenants.auth.signin_views")),
    path("admin/", admin.site.urls),
]
