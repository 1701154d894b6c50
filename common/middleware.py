"""Early rejection of input no view should have to think about."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase, JsonResponse


class RejectBadInputMiddleware:
    """400 for NUL characters or invalid Unicode in the path or the query string: PostgreSQL
    cannot store or compare them, and every search box and filter would otherwise need to."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        problem = self._problem(request)
        if problem:
            return JsonResponse({"code": "invalid_characters", "detail": problem}, status=400)
        return self.get_response(request)

    @staticmethod
    def _problem(request: HttpRequest) -> str | None:
        texts = [request.path]
        for key, values in request.GET.lists():
            texts.append(key)
            texts.extend(values)
        for text in texts:
            if "\x00" in text:
                return "The URL contains a NUL character."
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return "The URL contains invalid Unicode."
        return None
