"""HubSpot CRM client: contacts, paged with `paging.next.after`."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from integrations.providers.base import HttpClient, ReauthRequired, RetryPolicy

PAGE_LIMIT = 100
CONTACT_PROPERTIES = ["firstname", "lastname", "email", "phone", "mobilephone", "hs_email_optout"]


def hubspot_base_url() -> str:
    return settings.HUBSPOT_BASE_URL


class HubSpotClient:
    def __init__(
        self,
        credentials: dict[str, Any],
        *,
        birthday_property: str = "",
        policy: RetryPolicy | None = None,
        base_url: str | None = None,
    ):
        token = credentials.get("access_token") or credentials.get("private_app_token")
        if not token:
            raise ReauthRequired("hubspot: no private app token is stored; reconnect the account")
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.birthday_property = birthday_property
        self.http = HttpClient(provider="hubspot", base_url=base_url or hubspot_base_url(), policy=policy)

    def list_contacts(self, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        properties = CONTACT_PROPERTIES + ([self.birthday_property] if self.birthday_property else [])
        params = {"limit": PAGE_LIMIT, "properties": ",".join(properties), "archived": "false"}
        if after:
            params["after"] = after
        body = self.http.get_json("/crm/v3/objects/contacts", params=params, headers=self.headers)
        next_after = ((body.get("paging") or {}).get("next") or {}).get("after")
        return body.get("results") or [], next_after or None
