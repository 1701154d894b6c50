"""Request parsing that turns hostile input into 400s instead of 500s."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32


def _check(value, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ParseError("Text may not contain NUL characters.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (\ud800 escapes) are valid JSON but not text PostgreSQL can store.
        raise ParseError("Text contains invalid Unicode (a lone surrogate).") from None


class StrictJSONParser(JSONParser):
    """JSON, minus what PostgreSQL would reject later with a 500: NUL characters, lone
    surrogates, and nesting deep enough to exhaust the recursion limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None
        _check(data)
        return data
