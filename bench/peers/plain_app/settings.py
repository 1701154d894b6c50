"""Peer (d): plain Django + DRF, no isolation."""

from bench.peers.base_settings import *  # noqa: F401,F403

INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "bench.peers.plain_app"]
BENCH_PEER_VIEW = "bench.peers.plain_app.views.ClientList"
