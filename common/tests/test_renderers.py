"""common.renderers.JSONRenderer writes what DRF's JSONRenderer writes, byte for byte."""

import datetime
import decimal
import uuid
import zoneinfo

import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail
from rest_framework.serializers import Serializer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from common.renderers import JSONRenderer

UTC = datetime.UTC
SAMPLES = {
    "utc (timezone.utc)": datetime.datetime(2026, 11, 30, 4, 5, 6, 123456, tzinfo=UTC),
    "utc (zoneinfo)": datetime.datetime(2026, 11, 30, 4, 5, 6, tzinfo=zoneinfo.ZoneInfo("UTC")),
    "offset": datetime.datetime(2026, 11, 30, 4, 5, 6, 7, tzinfo=zoneinfo.ZoneInfo("Asia/Kathmandu")),
    "naive": datetime.datetime(2026, 1, 2, 3, 4, 5),
    "date": datetime.date(2026, 2, 28),
    "time": datetime.time(9, 30),
    "uuid": uuid.UUID("3eb95c2f-3bd6-27bf-8bd9-71777c4d6966"),
    "decimal": decimal.Decimal("12.50"),
    "lazy text": gettext_lazy("This field is required."),
    "error detail": ErrorDetail("Not found.", code="not_found"),
    "separators": "a\u2028b\u2029c",
    "non-ascii": "Zoë Ångström — 💇",
    "escapes": 'quote " backslash \\ tab \t newline \n control \x01',
    # Floats as the API has them (percentages, rounded): orjson and the standard library write
    # the same shortest form; only exponents differ in spelling (1e-7 / 1e-07), never the value.
    "numbers": [0, -1, 2**63 - 1, 1.5, 0.1, 33.3, 100.0, -2.75, True, False, None],
    "int keys": {1: "one", 2: "two"},
    "nested": ReturnDict({"results": ReturnList([{"a": 1}], serializer=Serializer())}, serializer=Serializer()),
    "empty": [{}, [], ""],
    "tuple": (1, "two"),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_same_bytes_as_drf(name):
    data = {"value": SAMPLES[name], "list": [SAMPLES[name]]}
    assert JSONRenderer().render(data) == renderers.JSONRenderer().render(data)


def test_what_orjson_cannot_write_is_written_by_drf():
    big = {"n": 2**70}
    assert JSONRenderer().render(big) == renderers.JSONRenderer().render(big) == b'{"n":1180591620717411303424}'
    indented = JSONRenderer().render({"a": 1}, "application/json; indent=4")
    assert indented == renderers.JSONRenderer().render({"a": 1}, "application/json; indent=4") == b'{\n    "a": 1\n}'
    assert JSONRenderer().render(None) == b""


@pytest.mark.django_db
def test_every_list_of_the_full_world_renders_the_same(full_world):
    """Real responses (lists and details of every app), rendered both ways."""
    api = full_world.a
    paths = [
        "/api/v1/me/",
        "/api/v1/clients/",
        "/api/v1/clients/birthdays/?days_ahead=366",
        "/api/v1/tags/",
        "/api/v1/jobs/",
        "/api/v1/change-log/",
        "/api/v1/message-drafts/",
        "/api/v1/campaigns/settings/",
        "/api/v1/audit-log/",
        "/api/v1/integrations/",
        "/api/v1/services/",
        "/api/v1/service-categories/",
        "/api/v1/analytics/top-clients/?start=2025-01-01&end=2027-12-31",
        "/api/v1/analytics/dashboard/?start=2025-01-01&end=2027-12-31",
        "/api/v1/analytics/revenue-by-service/?start=2025-01-01&end=2027-12-31",
        "/api/v1/analytics/revenue-timeseries/?start=2025-01-01&end=2027-12-31",
        "/api/v1/transactions/",
        "/api/v1/appointments/",
    ]
    checked = 0
    for path in paths:
        response = api.get(path)
        assert response.status_code == 200, (path, response.content[:200])
        assert response.content == renderers.JSONRenderer().render(response.data), path
        checked += 1
    assert checked == len(paths)
