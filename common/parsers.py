"""Request parsing that turns hostile input into 400s instead of 500s."""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Mapping
from itertools import accumulate
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import QueryDict
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser
from rest_framework.utils import json as drf_json

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile
    from django.http.request import _ImmutableQueryDict
    from django.utils.datastructures import MultiValueDict

MAX_JSON_DEPTH = 32

# A JSON string (escapes included); possessive, so a long one is skipped in linear time.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')
# Brackets only, every opening one as "[" and every closing one as "]"; or as signed steps.
_SAME = bytes.maketrans(b"{}", b"[]")
_STEPS = bytes.maketrans(b"[]", b"\x01\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_CHUNK = 1 << 16


def nested_deeper_than(raw: bytes | str, limit: int) -> bool:
    """Whether a JSON text opens more than `limit` arrays/objects inside each other: a scan of
    its brackets outside strings, before any parsing (the parser's recursion is never reached
    with 50,000 levels). Malformed text is answered conservatively; the parser refuses it anyway."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # too few brackets to nest that deep: the usual body, at C speed
    brackets = _JSON_STRING.sub(b"", raw).translate(_SAME, _NOT_BRACKETS)
    # Each round removes every innermost pair ("[]"), at C speed: a text nested at most `limit`
    # deep is empty after `limit` rounds (a large but flat body after one or two), and a
    # well-formed one that is not empty then is deeper than `limit`.
    rounds = 0
    while rounds < limit:
        shorter = brackets.replace(b"[]", b"")
        if not shorter:
            return False
        if len(shorter) == len(brackets):
            break  # malformed: no pair left to remove
        brackets, rounds = shorter, rounds + 1
    if rounds == limit and brackets and brackets.count(b"[") == brackets.count(b"]"):
        return True
    # Malformed (unbalanced, or stuck early): a round lowers the deepest level by one at most,
    # so what is left, `rounds` levels deeper, bounds the depth from above (conservative, and
    # the parser refuses such a text anyway). Counted chunk by chunk: a deep text stops early.
    depth = rounds
    steps = brackets.translate(_STEPS)
    for start in range(0, len(steps), _CHUNK):
        chunk = array("b", steps[start : start + _CHUNK])
        if max(accumulate(chunk, initial=depth)) > limit:
            return True
        depth += sum(chunk)
    return False


class DuplicateKey(ParseError):
    """400 `duplicate_key`, naming the key in `fields` (common.http_errors reads `fields`). A
    ParseError, not an HttpError: common.http_errors imports DRF's views, which import parsers."""

    def __init__(self, key: str):
        super().__init__(f"A JSON object names the key {key!r} twice.", code="duplicate_key")
        self.fields = {key: ["is named twice in one JSON object."]}


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would keep the last value silently: which one a reader meant is unknowable.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(key)
        result[key] = value
    return result


def strict_json_loads(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON as the API accepts it: nesting bounded before parsing, no duplicate keys, no NUL
    or lone surrogate in any string (PostgreSQL refuses both). ParseError / DuplicateKey (400)."""
    if nested_deeper_than(raw, max_depth):
        raise ParseError(f"JSON nested deeper than {max_depth} levels.")
    try:
        # NaN and Infinity are refused, as DRF's own parser does (STRICT_JSON).
        data = json.loads(raw, object_pairs_hook=_object_without_duplicates, parse_constant=drf_json.strict_constant)
    except RecursionError:
        raise ParseError("JSON nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ParseError(f"JSON parse error - {exc}") from None
    _check(data, limit=max_depth)
    return data


def _check(value: object, depth: int = 0, limit: int = MAX_JSON_DEPTH) -> None:
    if depth > limit:
        raise ParseError(f"JSON nested deeper than {limit} levels.")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check(item, depth + 1, limit)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1, limit)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ParseError("Text may not contain NUL characters.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (\ud800 escapes) are valid JSON but not text PostgreSQL can store.
        raise ParseError("Text contains invalid Unicode (a lone surrogate).") from None


class StrictJSONParser(JSONParser):
    """JSON, minus what PostgreSQL would reject later with a 500 (NUL characters, lone
    surrogates), nesting deeper than MAX_JSON_DEPTH (refused before parsing), and objects that
    name a key twice (400 `duplicate_key`: json would keep the last one silently)."""

    def parse(
        self, stream: IO[Any] | None, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:  # any JSON value: an object, a list, a string...
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except (LookupError, UnicodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return strict_json_loads(text)


def without_blanks(data: QueryDict) -> _ImmutableQueryDict:
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
    # Immutable from here on, as the form parser's QueryDict is (the stubs cannot follow `_mutable`).
    return cast("_ImmutableQueryDict", kept)


class StrictFormParser(FormParser):
    """Form bodies with the JSON parser's strictness: NUL characters and bytes that are not
    UTF-8 (Django would silently replace them) are a 400, not a 500 or a changed value.
    Blank fields are left out (`without_blanks`)."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> _ImmutableQueryDict:
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

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> DataAndFiles[_ImmutableQueryDict, MultiValueDict[str, UploadedFile[Any]]]:
        result = super().parse(stream, media_type, parser_context)
        texts: list[str] = []
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
