"""Recorded-shape provider payloads and `responses` stubs (no test touches the network).

Shapes follow ../shared/design/providers.md: Square lists page with `cursor`, HubSpot with
`paging.next.after`, Acuity returns a bare array per date window.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import responses

SQUARE = "https://connect.squareup.com"
ACUITY = "https://acuityscheduling.com/api/v1"
HUBSPOT = "https://api.hubapi.com"


def square_customer(i: int, **overrides) -> dict:
    customer = {
        "id": f"SQCUST{i:06d}",
        "created_at": "2024-03-01T10:00:00Z",
        "updated_at": "2024-03-02T10:00:00Z",
        "given_name": f"Given{i}",
        "family_name": "Doe",
        "email_address": f"person{i}@example.com",
        "phone_number": f"+1415{200 + i // 10000:03d}{i % 10000:04d}",
        "birthday": "0000-05-17",
        "preferences": {"email_unsubscribed": False},
        "creation_source": "THIRD_PARTY",
        "version": 1,
    }
    customer.update(overrides)
    return customer


def square_catalog() -> list[dict]:
    """A category, an item with two variations (nested, as Square returns them), and one
    item whose category is only in the legacy `category_id`."""
    return [
        {
            "type": "CATEGORY",
            "id": "CAT_COLOR",
            "updated_at": "2024-01-01T00:00:00Z",
            "version": 1,
            "category_data": {"name": "Color"},
        },
        {"type": "CATEGORY", "id": "CAT_CUTS", "version": 1, "category_data": {"name": "Cuts"}},
        {
            "type": "ITEM",
            "id": "ITEM_BALAYAGE",
            "version": 1,
            "item_data": {
                "name": "Balayage",
                "product_type": "APPOINTMENTS_SERVICE",
                "reporting_category": {"id": "CAT_COLOR"},
                "categories": [{"id": "CAT_CUTS"}],
                "variations": [
                    {
                        "type": "ITEM_VARIATION",
                        "id": "VAR_BALAYAGE_SHORT",
                        "item_variation_data": {
                            "item_id": "ITEM_BALAYAGE",
                            "name": "Short",
                            "price_money": {"amount": 15000, "currency": "USD"},
                            "service_duration": 7200000,
                        },
                    },
                    {
                        "type": "ITEM_VARIATION",
                        "id": "VAR_BALAYAGE_LONG",
                        "item_variation_data": {
                            "item_id": "ITEM_BALAYAGE",
                            "name": "Long",
                            "price_money": {"amount": 20000, "currency": "USD"},
                            "service_duration": 9000000,
                        },
                    },
                ],
            },
        },
        {
            "type": "ITEM",
            "id": "ITEM_TRIM",
            "version": 1,
            "item_data": {
                "name": "Trim",
                "category_id": "CAT_CUTS",
                "variations": [
                    {
                        "type": "ITEM_VARIATION",
                        "id": "VAR_TRIM",
                        "item_variation_data": {
                            "item_id": "ITEM_TRIM",
                            "name": "Regular",
                            "price_money": {"amount": 4000, "currency": "USD"},
                            "service_duration": 1800000,
                        },
                    }
                ],
            },
        },
    ]


def square_payment(
    i: int, *, customer_id: str | None = None, order_id: str | None = None, amount: int = 15000, **overrides
) -> dict:
    payment = {
        "id": f"PAY{i:06d}",
        "created_at": f"2024-04-{1 + i % 28:02d}T15:00:00.000Z",
        "updated_at": f"2024-04-{1 + i % 28:02d}T15:00:05.000Z",
        "amount_money": {"amount": amount, "currency": "USD"},
        "total_money": {"amount": amount, "currency": "USD"},
        "status": "COMPLETED",
        "source_type": "CARD",
        "location_id": "LOC1",
        "order_id": order_id,
    }
    if customer_id:
        payment["customer_id"] = customer_id
    payment.update(overrides)
    return payment


def square_refund(
    i: int, *, payment_id: str, amount: int, created_at: str, status: str = "COMPLETED", **overrides
) -> dict:
    """A PaymentRefund as GET /v2/refunds returns it."""
    refund = {
        "id": f"REF{i:06d}_{payment_id}",
        "status": status,
        "location_id": "LOC1",
        "amount_money": {"amount": amount, "currency": "USD"},
        "payment_id": payment_id,
        "order_id": f"ORDER-{payment_id}",
        "reason": "Returned product",
        "created_at": created_at,
        "updated_at": created_at,
        "destination_type": "CARD",
    }
    refund.update(overrides)
    return refund


def square_order(order_id: str, lines: list[tuple[str, str, int]]) -> dict:
    return {
        "id": order_id,
        "location_id": "LOC1",
        "line_items": [
            {
                "uid": f"{order_id}-{n}",
                "name": name,
                "quantity": "1",
                "catalog_object_id": catalog_id,
                "variation_name": "Short",
                "base_price_money": {"amount": amount, "currency": "USD"},
                "total_money": {"amount": amount, "currency": "USD"},
            }
            for n, (name, catalog_id, amount) in enumerate(lines)
        ],
    }


def _cursor_index(request, *, body: bool = False) -> int:
    if body:
        cursor = (json.loads(request.body or b"{}")).get("cursor")
    else:
        cursor = parse_qs(urlparse(request.url).query).get("cursor", [None])[0]
    return int(cursor[1:]) if cursor else 0


def paged(pages: list[list[dict]], key: str, *, body: bool = False):
    """A callback serving `pages` with Square-style cursors 'c1', 'c2', ..."""

    def callback(request):
        index = _cursor_index(request, body=body)
        payload = {key: pages[index] if index < len(pages) else []}
        if index + 1 < len(pages):
            payload["cursor"] = f"c{index + 1}"
        return 200, {}, json.dumps(payload)

    return callback


def square_merchant(merchant_id: str = "MLQW0A2C3C2DX", **overrides) -> dict:
    """GET /v2/merchants/me: Square's Merchant object (recorded shape, sandbox values)."""
    merchant = {
        "id": merchant_id,
        "business_name": "Salon Sandbox",
        "country": "US",
        "language_code": "en-US",
        "currency": "USD",
        "status": "ACTIVE",
        "main_location_id": "L1XT8WJ4Z2N3P",
        "created_at": "2023-03-14T17:02:37.221Z",
    }
    merchant.update(overrides)
    return merchant


def stub_square(
    rsps: responses.RequestsMock,
    *,
    customer_pages=None,
    search_pages=None,
    catalog=None,
    payment_pages=None,
    orders: dict | None = None,
    customers: bool = True,
    refund_pages=None,
    merchant_id: str = "MLQW0A2C3C2DX",
) -> None:
    # responses uses (and drops) the first of several matching stubs: register each URL once.
    rsps.add(responses.GET, f"{SQUARE}/v2/merchants/me", json={"merchant": square_merchant(merchant_id)})
    if customers:
        rsps.add_callback(responses.GET, f"{SQUARE}/v2/customers", callback=paged(customer_pages or [[]], "customers"))
    rsps.add_callback(
        responses.POST, f"{SQUARE}/v2/customers/search", callback=paged(search_pages or [[]], "customers", body=True)
    )
    rsps.add_callback(responses.GET, f"{SQUARE}/v2/catalog/list", callback=paged([catalog or []], "objects"))
    rsps.add_callback(responses.GET, f"{SQUARE}/v2/payments", callback=paged(payment_pages or [[]], "payments"))
    rsps.add_callback(responses.GET, f"{SQUARE}/v2/refunds", callback=paged(refund_pages or [[]], "refunds"))
    known = orders or {}

    def batch(request):
        ids = json.loads(request.body)["order_ids"]
        return 200, {}, json.dumps({"orders": [known[i] for i in ids if i in known]})

    rsps.add_callback(responses.POST, f"{SQUARE}/v2/orders/batch-retrieve", callback=batch)


def acuity_appointment(i: int, **overrides) -> dict:
    appointment = {
        "id": 1000 + i,
        "firstName": f"Given{i}",
        "lastName": "Doe",
        "email": f"person{i}@example.com",
        "phone": "",
        "datetime": "2024-05-02T10:15:00-0700",
        "endTime": "11:15am",
        "duration": "60",
        "price": "85.50",
        "amountPaid": "0.00",
        "paid": "no",
        "type": "Color consult",
        "appointmentTypeID": 77,
        "calendar": "Sam",
        "calendarID": 5,
        "timezone": "America/Los_Angeles",
        "canceled": False,
        "noShow": False,
    }
    appointment.update(overrides)
    return appointment


def acuity_client(first: str, last: str, email: str = "", phone: str = "", notes: str = "") -> dict:
    """GET /clients items: no id, no birthday."""
    return {"firstName": first, "lastName": last, "email": email, "phone": phone, "notes": notes}


def stub_acuity(rsps: responses.RequestsMock, appointments: list[dict], clients: list[dict] | None = None) -> None:
    """Serves appointments whose date falls in the requested [minDate, maxDate] window, and
    `clients` at GET /clients."""
    rsps.add(responses.GET, f"{ACUITY}/clients", json=clients or [])

    def callback(request):
        query = parse_qs(urlparse(request.url).query)
        low, high = query["minDate"][0], query["maxDate"][0]
        canceled = query.get("canceled", ["false"])[0] == "true"
        found = [a for a in appointments if low <= a["datetime"][:10] <= high and bool(a.get("canceled")) == canceled]
        return 200, {}, json.dumps(found)

    rsps.add_callback(responses.GET, f"{ACUITY}/appointments", callback=callback)


def hubspot_contact(i: int, **properties) -> dict:
    props = {
        "firstname": f"Hub{i}",
        "lastname": "Spot",
        "email": f"hub{i}@example.com",
        "phone": None,
        "date_of_birth": "1988-02-29",
        "hs_email_optout": "false",
    }
    props.update(properties)
    return {
        "id": str(500 + i),
        "properties": props,
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2024-01-02T00:00:00Z",
        "archived": False,
    }


def stub_hubspot(rsps: responses.RequestsMock, pages: list[list[dict]]) -> None:
    def callback(request):
        after = parse_qs(urlparse(request.url).query).get("after", [None])[0]
        index = int(after) if after else 0
        body = {"results": pages[index]}
        if index + 1 < len(pages):
            body["paging"] = {"next": {"after": str(index + 1), "link": "https://api.hubapi.com/..."}}
        return 200, {}, json.dumps(body)

    rsps.add_callback(responses.GET, f"{HUBSPOT}/crm/v3/objects/contacts", callback=callback)
