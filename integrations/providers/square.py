"""Square API client: the merchant a token belongs to, customers, catalog, payments, refunds,
orders, OAuth token refresh."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.providers.base import HttpClient, ProviderError, ReauthRequired, RetryPolicy

SQUARE_VERSION = "2025-01-23"
PAGE_LIMIT = 100  # Square's maximum for customers and payments
# Tokens last 30 days; Square recommends refreshing at least every 7 days.
REFRESH_WHEN_LEFT = datetime.timedelta(days=7)


def square_base_url() -> str:
    return settings.SQUARE_BASE_URL


class SquareClient:
    """Stateless apart from the tokens. `on_tokens` persists refreshed tokens (the caller
    writes them in a short tenant transaction, outside any fetch)."""

    def __init__(
        self,
        credentials: dict[str, Any],
        *,
        policy: RetryPolicy | None = None,
        on_tokens: Callable[[dict[str, Any]], None] | None = None,
        base_url: str | None = None,
    ):
        self.credentials = dict(credentials)
        self.on_tokens = on_tokens
        self.http = HttpClient(provider="square", base_url=base_url or square_base_url(), policy=policy)

    # --- auth -----------------------------------------------------------------------

    def _headers(self) -> dict[str, Any]:
        token = self.credentials.get("access_token")
        if not token:
            raise ReauthRequired("square: no access token is stored; connect the account")
        return {"Authorization": f"Bearer {token}", "Square-Version": SQUARE_VERSION, "Accept": "application/json"}

    def needs_refresh(self, now: datetime.datetime | None = None) -> bool:
        if not self.credentials.get("refresh_token"):
            return False
        expires_at = parse_datetime(str(self.credentials.get("expires_at") or ""))
        if expires_at is None:
            return True
        return expires_at - (now or timezone.now()) < REFRESH_WHEN_LEFT

    def refresh_tokens(self) -> dict[str, Any]:
        """POST /oauth2/token with the refresh token; returns and keeps the new token set."""
        client_id = settings.SQUARE_APPLICATION_ID
        client_secret = settings.SQUARE_APPLICATION_SECRET
        if not client_id or not client_secret:
            raise ProviderError("square: SQUARE_APPLICATION_ID / SQUARE_APPLICATION_SECRET are not configured")
        body = self.http.post_object(
            "/oauth2/token",
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "refresh_token",
                "refresh_token": self.credentials["refresh_token"],
            },
            headers={"Square-Version": SQUARE_VERSION},
        )
        if not body.get("access_token"):
            raise ReauthRequired("square: the token refresh returned no access token; reconnect the account")
        self.credentials.update(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token") or self.credentials.get("refresh_token"),
            expires_at=body.get("expires_at", ""),
        )
        if body.get("merchant_id"):
            self.credentials["merchant_id"] = body["merchant_id"]
        if self.on_tokens is not None:
            self.on_tokens(dict(self.credentials))
        return self.credentials

    def ensure_fresh_token(self) -> None:
        if self.needs_refresh():
            self.refresh_tokens()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.http.get_object(
            path, params={k: v for k, v in (params or {}).items() if v not in (None, "")}, headers=self._headers()
        )

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.http.post_object(path, body, headers=self._headers())

    # --- resources ----------------------------------------------------------------------

    def retrieve_merchant(self) -> dict[str, Any]:
        """GET /v2/merchants/me: the merchant this access token was issued for (needs the
        MERCHANT_PROFILE_READ permission). The only source of a connection's merchant id: a
        merchant id a request names proves nothing, Square's answer to the token does."""
        merchant = self._get("/v2/merchants/me").get("merchant")
        if not isinstance(merchant, dict) or not isinstance(merchant.get("id"), str) or not merchant["id"]:
            raise ProviderError("square: /v2/merchants/me answered without a merchant id")
        return merchant

    def list_customers(self, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        body = self._get(
            "/v2/customers", {"cursor": cursor, "limit": PAGE_LIMIT, "sort_field": "CREATED_AT", "sort_order": "ASC"}
        )
        return body.get("customers") or [], body.get("cursor") or None

    def search_customers_updated_since(
        self, since: str, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        query = {"filter": {"updated_at": {"start_at": since}}, "sort": {"field": "CREATED_AT", "order": "ASC"}}
        body = self._post(
            "/v2/customers/search", {"limit": PAGE_LIMIT, "query": query, **({"cursor": cursor} if cursor else {})}
        )
        return body.get("customers") or [], body.get("cursor") or None

    def retrieve_customer(self, customer_id: str) -> dict[str, Any]:
        return self._get(f"/v2/customers/{customer_id}").get("customer") or {}

    def list_catalog(self, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        body = self._get("/v2/catalog/list", {"cursor": cursor, "types": "ITEM,ITEM_VARIATION,CATEGORY"})
        return body.get("objects") or [], body.get("cursor") or None

    def list_payments(
        self, *, begin_time: str | None, cursor: str | None = None, location_id: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        body = self._get(
            "/v2/payments",
            {
                "begin_time": begin_time,
                "cursor": cursor,
                "limit": PAGE_LIMIT,
                "sort_order": "ASC",
                "location_id": location_id,
            },
        )
        return body.get("payments") or [], body.get("cursor") or None

    def list_refunds(
        self, *, begin_time: str | None, cursor: str | None = None, location_id: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """GET /v2/refunds: PaymentRefund objects by created_at (oldest first)."""
        body = self._get(
            "/v2/refunds",
            {
                "begin_time": begin_time,
                "cursor": cursor,
                "limit": PAGE_LIMIT,
                "sort_order": "ASC",
                "location_id": location_id,
            },
        )
        return body.get("refunds") or [], body.get("cursor") or None

    def retrieve_refund(self, refund_id: str) -> dict[str, Any]:
        return self._get(f"/v2/refunds/{refund_id}").get("refund") or {}

    def retrieve_payment(self, payment_id: str) -> dict[str, Any]:
        return self._get(f"/v2/payments/{payment_id}").get("payment") or {}

    def batch_retrieve_orders(self, order_ids: list[str], location_id: str | None = None) -> dict[str, dict[str, Any]]:
        """{order id: order} for the line items of a page of payments (at most 100 ids a call)."""
        orders: dict[str, dict[str, Any]] = {}
        ids = sorted({i for i in order_ids if i})
        for start in range(0, len(ids), 100):
            body: dict[str, Any] = {"order_ids": ids[start : start + 100]}
            if location_id:
                body["location_id"] = location_id
            for order in self._post("/v2/orders/batch-retrieve", body).get("orders") or []:
                orders[order.get("id")] = order
        return orders
