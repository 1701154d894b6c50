"""The API's JSON renderer: DRF's output, byte for byte, written by orjson.

DRF's JSONRenderer encodes with the standard library and calls back into Python for every
date, time and id (a 50-row client list has some 200 of them); orjson writes the same JSON
in a fraction of the time. Written here rather than taken from a package (drf-orjson-renderer)
because the promise is DRF's exact bytes, which the schema, the tests and the clients read:
  - dates and times as DRF writes them (ISO 8601, UTC as `Z`), ids as text;
  - U+2028 and U+2029 escaped, as DRF does (JSON that is also valid JavaScript);
  - anything orjson does not know (Decimal, lazy text, querysets, ...) goes through DRF's own
    encoder's `default`, and what orjson refuses (integers past 64 bits) or cannot do (an
    indent other than 2, asked for with `Accept: application/json; indent=4`) is rendered by
    DRF's renderer itself.
Floats are written in the same shortest form, except that exponents are spelt without padding
(1e-7 where the standard library writes 1e-07: the same number). One difference is left on purpose: a float NaN or infinity, which DRF refuses with an error
(a 500), is written as null. No response carries a float from the database (money is integer
minor units, counts are integers); checking every response for NaN would cost more than the
encoding saves.
tests: brandvx/tests/test_renderers.py compares both renderers on the same data.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_ORJSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
# What orjson does not know (Decimal, lazy text, querysets, ...): DRF's encoder's answer.
_drf_default = JSONEncoder().default
_LINE_SEPARATOR, _PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type or "", renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            rendered = orjson.dumps(data, default=_drf_default, option=_ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: e.g. an integer past 64 bits
            return super().render(data, accepted_media_type, renderer_context)
        if _LINE_SEPARATOR in rendered or _PARAGRAPH_SEPARATOR in rendered:
            rendered = rendered.replace(_LINE_SEPARATOR, b"\\u2028").replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
        return rendered
