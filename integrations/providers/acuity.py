"""Acuity Scheduling API client: appointments by date window (there is no cursor)."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings

from integrations.providers.base import HttpClient, ReauthRequired, RetryPolicy

PAGE_MAX = 1000  # `max` per request; a window that fills it is split (see sync)


def acuity_base_url() -> str:
    return settings.ACUITY_BASE_URL


class AcuityClient:
    def __init__(self, credentials: dict[str, Any], *, policy: RetryPolicy | None = None, base_url: str | None = None):
        user_id, api_key = str(credentials.get("user_id") or ""), str(credentials.get("api_key") or "")
        if not user_id or not api_key:
            raise ReauthRequired("acuity: user id and API key are required; reconnect the account")
        self.auth = (user_id, api_key)
        self.http = HttpClient(provider="acuity", base_url=base_url or acuity_base_url(), policy=policy)

    def list_appointments(
        self, *, min_date: datetime.date, max_date: datetime.date, max_results: int = PAGE_MAX
    ) -> tuple[list[dict[str, Any]], bool]:
        """Appointments starting in [min_date, max_date] (both inclusive), canceled ones too,
        and whether either list hit `max` (then the window may be truncated: split it)."""
        params = {
            "minDate": min_date.isoformat(),
            "maxDate": max_date.isoformat(),
            "max": max_results,
            "direction": "ASC",
        }
        active = self.http.get_json("/appointments", params=params, auth=self.auth)
        canceled = self.http.get_json("/appointments", params={**params, "canceled": "true"}, auth=self.auth)
        active, canceled = active or [], canceled or []
        return [*active, *canceled], len(active) >= max_results or len(canceled) >= max_results

    def list_clients(self) -> list[dict[str, Any]]:
        """Every client (GET /clients: an array of {firstName, lastName, email, phone, notes};
        no id, no paging and no "changed since" filter: read whole, unchanged ones cost no write)."""
        body = self.http.get_json("/clients", auth=self.auth)
        return [c for c in body if isinstance(c, dict)] if isinstance(body, list) else []

    def retrieve_appointment(self, appointment_id: str | int) -> dict[str, Any]:
        return self.http.get_object(f"/appointments/{int(appointment_id)}", auth=self.auth)
