from django.conf import settings
from django.urls import path
from django.utils.module_loading import import_string

# BENCH_PEER_VIEW: set by each peer's settings module (bench/peers/*/settings.py), unknown to the type checker.
urlpatterns = [path("clients/", import_string(settings.BENCH_PEER_VIEW).as_view())]  # type: ignore[misc]
