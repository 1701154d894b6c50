"""The unsubscribe page at /u/<token>/ (RFC 8058 one-click): no sign-in, the token is the authority.

GET only shows the question (mail scanners fetch every link, so a GET never changes consent);
POST (the mail client's one-click body `List-Unsubscribe=One-Click`, or the page's button)
records the withdrawal. A tampered or unknown token is a 404 page that names nobody.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import unsubscribe
from tenants.auth.client_address import client_address

CHANNEL_NAMES = {"email": "emails", "sms": "text messages"}


@transaction.non_atomic_requests  # the tenant context opens its own transaction once the token names it
@csrf_exempt  # a mail provider's one-click POST carries no CSRF token; the token authorizes
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    if not unsubscribe.allowed(client_address(request)):
        response = _page(request, {"state": "limited"}, status=429)
        response["Retry-After"] = "60"
        return response
    subject = unsubscribe.token_read(token)
    found = None
    if subject is not None:
        found = unsubscribe.unsubscribe(subject) if request.method == "POST" else unsubscribe.subject_find(subject)
    if found is None:
        return _page(request, {"state": "not_found"}, status=404)
    context = {
        "state": "done" if request.method == "POST" else "confirm",
        "business_name": found.business_name,
        "channel_name": CHANNEL_NAMES.get(found.channel, "messages"),
    }
    return _page(request, context)


def _page(request: HttpRequest, context: dict[str, str], status: int = 200) -> HttpResponse:
    response = render(request, "campaigns/unsubscribe.html", context, status=status)
    # The token is in the URL: no referrer carries it elsewhere, no search engine keeps it.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response
