"""Request parsing that turns hostile input into 400s instead of 500s."""

from __future__ import annotations

from urllib.parse import parse_qsl

from django.conf import settings
from django.http import QueryDict
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser

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


def without_blanks(data: QueryDict) -> QueryDict:
    """A form's fields minus those left blank. Forms come from browsers (the browsable API; the
    API's documented bodies are JSON), and a browser sends every input, typed in or not: a
    blank field means "not given", never an empty value. So a blank `birthday` beside a typed
    month and day is absent, not a contradiction, and a blank optional field takes its
    default (as an absent JSON key does)."""
    kept = QueryDict(mutable=True, encoding=data.encoding)
    for key, values in data.lists():
        filled = [value for value in values if value != ""]
        if filled:
            kept.setlist(key, filled)
    kept._mutable = False
    return kept


class StrictFormParser(FormParser):
    """Form bodies with the JSON parser's strictness: NUL characters and bytes that are not
    UTF-8 (Django would silently replace them) are a 400, not a 500 or a changed value.
    Blank fields are left out (`without_blanks`)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read()
        try:
            pairs = parse_qsl(raw.decode(encoding), keep_blank_values=True, encoding=encoding, errors="strict")
        except UnicodeDecodeError:
            raise ParseError("The form body is not valid UTF-8.") from None
        for key, value in pairs:
            _check_text(key)
            _check_text(value)
        return without_blanks(QueryDict(raw, encoding=encoding))


class StrictMultiPartParser(MultiPartParser):
    """Multipart bodies with the same strictness for their text fields and file names.
    Django decodes fields leniently (bad bytes become U+FFFD), so U+FFFD is refused too.
    Blank text fields are left out (`without_blanks`), as for a form body."""

    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        texts = []
        for key, values in result.data.lists():
            texts.append(key)
            texts.extend(values)
        for key, uploads in result.files.lists():
            texts.append(key)
            texts.extend(upload.name or "" for upload in uploads)
        for text in texts:
            _check_text(text)
            if "\ufffd" in text:
                raise ParseError("A form field is not valid UTF-8.")
        return DataAndFiles(without_blanks(result.data), result.files)
