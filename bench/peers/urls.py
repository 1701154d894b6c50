from django.conf import settings
from django.urls import path
from django.utils.module_loading import import_string

urlpatterns = [path("clients/", import_string(settings.BENCH_PEER_VIEW).as_view())]
