"""Property: whatever value is put in any parameter or body field of any endpoint, the answer
is never a 5xx (issue 13 part 3). Hypothesis draws the values, not from the schema (that is
Schemathesis' job, test_schema_fuzz.py) but from what hurts servers: far dates, huge and
negative numbers, NUL and other control characters, very long text, wrong JSON types.

Every operation of the generated schema is exercised in-process (Django's test client, the
test transaction: each request is a savepoint) as the owner of a tenant holding data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 6

_text_values = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "null",
            "true",
            "0",
            "-1",
            "1e309",
            "NaN",
            "9" * 30,
            "0001-01-01",
            "9999-12-31",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00+14:00",
            "2025-02-30",
            "--02-29",
            "\x00",
            "%00",
            "\ufffd",
            "a" * 5000,
            "'; DROP TABLE x; --",
            "../../etc/passwd",
            "{}",
            "[]",
        ]
    ),
    st.text(max_size=40),
    st.integers().map(str),
    st.dates().map(str),
)
_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        _text_values,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def _operations() -> Iterator[tuple[str, str, list[tuple[str, str]], list[str]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            parameters = [(p["name"], p["in"]) for p in operation.get("parameters", [])]
            body_fields: list[str] = []
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                ref = media.get("schema", {}).get("$ref", "")
                body_fields = list(components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
                break
            yield method, path, parameters, body_fields


OPERATIONS = list(_operations())


def _real_ids(world) -> list[str]:
    found = []
    for app_data in world.data["a"].values():
        found += [str(value) for key, value in app_data.items() if key.endswith("_id")]
    return found


@pytest.mark.parametrize(
    "method,path,parameters,body_fields", OPERATIONS, ids=[f"{m.upper()} {p}" for m, p, *_ in OPERATIONS]
)
def test_no_value_of_any_input_gives_a_server_error(full_world, method, path, parameters, body_fields):
    ids = _real_ids(full_world)
    path_names = [name for name, where in parameters if where == "path"]
    query_names = [name for name, where in parameters if where == "query"]

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        path_values=st.fixed_dictionaries({name: st.one_of(st.sampled_from(ids), _text_values) for name in path_names}),
        query=st.fixed_dictionaries({}, optional=dict.fromkeys(query_names, _text_values)),
        body=st.fixed_dictionaries({}, optional=dict.fromkeys(body_fields, _json_values)),
        extra=st.dictionaries(st.text(max_size=8), _json_values, max_size=2),
    )
    def exercise(path_values, query, body, extra):
        url = path
        for name, value in path_values.items():
            # A value with "/" or empty would address another route; quote it like a client.
            url = url.replace("{" + name + "}", re.sub(r"[/?#%]", "_", value) or "_")
        client = full_world.a
        if method == "get":
            response = client.get(url, query)
        else:
            full_url = url + ("?" + urlencode(query) if query else "")
            response = getattr(client, method)(full_url, {**extra, **body}, format="json")
        assert response.status_code < 500, (method, url, query, body, response.status_code, response.content[:500])

    exercise()
