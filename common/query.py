"""Unknown query parameters are refused, on every endpoint, by one rule: a query parameter
is known when the endpoint's OpenAPI operation documents it (its filters, `cursor` and
`page_size` where it pages, `ordering` where it sorts, and its own parameters), or when it is
`format` (the renderer, checked by common.negotiation). Anything else is a 400
`unknown_parameter` naming it, as unknown body fields are (common.validation): a typo such as
`?consent=email` for `?email_consent=true` must not answer every client.

The documented names come from the schema itself (drf-spectacular's generator, the same code
as /api/schema/), read once per process, the first time an endpoint is called: the schema and
the server cannot disagree about which parameters exist.
tests: brandvx/tests/test_unknown_parameters.py walks every operation of the schema.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from rest_framework.request import Request

from common.http_errors import HttpError

# Accepted everywhere: the renderer (`?format=json`, `?format=api`), validated by the content
# negotiation; not part of an operation's documented parameters.
ALWAYS_KNOWN = frozenset({"format"})

_lock = threading.Lock()


class UnknownParameter(HttpError):
    code = "unknown_parameter"
    default_detail = "The request names a query parameter this endpoint does not have."

    def __init__(self, parameter: str, known: frozenset[str]):
        listed = ", ".join(sorted(known - ALWAYS_KNOWN)) or "none"
        super().__init__(
            f"{parameter}: is not a parameter of this endpoint (its parameters: {listed}).",
            fields={parameter: ["is not a parameter of this endpoint."]},
        )


def _generate() -> dict[tuple[Callable[..., Any], str], frozenset[str]]:
    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator()
    schema = generator.get_schema(request=None, public=True)
    documented: dict[tuple[Callable[..., Any], str], frozenset[str]] = {}
    endpoints: list[tuple[str, str, str, Callable[..., Any]]] = list(generator.endpoints or ())  # type: ignore[arg-type]
    for path, _regex, method, callback in endpoints:
        # The schema names a router's `pk` as `id` (SCHEMA_COERCE_PATH_PK).
        operation = schema["paths"].get(path.replace("{pk}", "{id}"), {}).get(method.lower())
        if operation is None:
            continue
        names = {parameter["name"] for parameter in operation.get("parameters", ()) if parameter["in"] == "query"}
        documented[(callback, method.upper())] = frozenset(names) | ALWAYS_KNOWN
    return documented


@functools.cache
def documented_query_parameters() -> dict[tuple[Callable[..., Any], str], frozenset[str]]:
    """{(URL callback, HTTP method): the query parameters its operation documents}."""
    with _lock:  # one generation per process, even when the first requests arrive together
        return _generate()


def check_query_parameters(request: Request) -> None:
    """400 `unknown_parameter` for the first query parameter the endpoint does not document.
    Routes without an operation (OPTIONS, a method the view does not have) are left to answer
    as they do (405 and so on)."""
    if not request.query_params:
        return
    match = request._request.resolver_match
    if match is None:
        return
    method = "GET" if request.method == "HEAD" else str(request.method)
    known = documented_query_parameters().get((match.func, method))
    if known is None:
        return
    for name in request.query_params:
        if name not in known:
            raise UnknownParameter(name, known)


# For an APIView: refuses unknown query parameters before the view's handler runs, once the
# caller may call it (authentication and permissions answer first). A comment, not a
# docstring: the schema would take a docstring as the description of the views using it.
class StrictQueryParametersMixin:
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        check_query_parameters(request)
