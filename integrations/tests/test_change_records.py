"""Provider writes leave change records: the provider is the actor, one row per object."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_a_custom_crm_push_records_its_sales_with_the_provider_as_actor(world):
    key = world.a.post("/api/v1/integrations/", {"provider": "custom_crm"}, format="json").json()["api_key"]
    crm = APIClient()
    body = {
        "transactions": [
            {"external_id": "T1", "occurred_at": "2025-01-30T20:00:00Z", "total_amount": 12000},
            {"external_id": "T2", "occurred_at": "2025-01-30T21:00:00Z", "total_amount": 3000},
        ]
    }
    first = crm.post("/api/v1/integrations/custom_crm/import/", body, format="json", HTTP_X_BRANDVX_KEY=key)
    assert first.status_code == 200, first.content
    again = crm.post("/api/v1/integrations/custom_crm/import/", body, format="json", HTTP_X_BRANDVX_KEY=key)
    assert again.json()["transactions"]["unchanged"] == 2
    body["transactions"][0]["total_amount"] = 12500
    crm.post("/api/v1/integrations/custom_crm/import/", body, format="json", HTTP_X_BRANDVX_KEY=key)

    rows = world.a.get("/api/v1/change-log/?actor_kind=provider").json()["results"]
    assert sorted((r["action"], r["object_id"], r["actor_label"]) for r in rows) == [
        ("transactions.created", "T1", "custom_crm"),
        ("transactions.created", "T2", "custom_crm"),
        ("transactions.updated", "T1", "custom_crm"),  # the unchanged re-push recorded nothing
    ]
    assert world.b.get("/api/v1/change-log/?actor_kind=provider").json()["results"] == []
