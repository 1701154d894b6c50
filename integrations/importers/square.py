"""Square: customers, the catalog (categories, services, variations), payments and refunds.

The mappers (`contact_from_square`, `category_from_square`, `service_from_square_item`,
`variation_from_square`, `sale_from_square_payment`, `refund_from_square`) turn one Square
object into a typed record; the page importers read what a page needs to map it and hand
each record to its owner's service (no write of their own)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TypedDict

from analytics.models import Refund, Service, ServiceCategory, Transaction
from analytics.records import SKIPPED, CategoryRecord, RefundRecord, SaleLine, SaleRecord, ServiceRecord
from analytics.rules import validate_minor_units
from analytics.services import (
    refund_upsert,
    service_category_upsert_from_provider,
    service_upsert_from_provider,
    transaction_upsert_from_provider,
)
from clients.models import ClientExternalId
from clients.records import ContactRecord
from integrations.catalog import VariationRecord, catalog_variation_upsert
from integrations.importers.base import (
    ImporterBase,
    Raw,
    RecordError,
    clip,
    make_contact,
    money_rules,
    parse_timestamp,
)
from integrations.models import CatalogVariation
from tenants.models import Tenant

SOURCE = "square"


def contact_from_square(raw: Raw, *, region: str) -> ContactRecord:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise RecordError("customer has no id")
    first, last = raw.get("given_name"), raw.get("family_name")
    if not (first or last):
        first = raw.get("nickname") or raw.get("company_name")
    preferences = raw.get("preferences") or {}
    unsubscribed = preferences.get("email_unsubscribed")
    return make_contact(
        external_id=str(raw["id"]),
        first_name=first,
        last_name=last,
        email=raw.get("email_address"),
        phone=raw.get("phone_number"),
        birthday=raw.get("birthday"),
        notes=raw.get("note"),
        email_unsubscribed=unsubscribed if isinstance(unsubscribed, bool) else None,
        region=region,
        created_at=raw.get("created_at"),
    )


# --- Square catalog -> categories, services, variations ----------------------------------


def item_category_id(item_data: Raw) -> str:
    """Square's category of an item: reporting_category, else the first category, else the
    legacy category_id."""
    reporting = (item_data.get("reporting_category") or {}).get("id")
    if reporting:
        return str(reporting)
    categories = item_data.get("categories") or []
    if categories and isinstance(categories[0], dict) and categories[0].get("id"):
        return str(categories[0]["id"])
    return str(item_data.get("category_id") or "")


def category_from_square(raw: Raw) -> CategoryRecord:
    name = clip((raw.get("category_data") or {}).get("name"), 100)
    if not name:
        raise RecordError("category has no name")
    return CategoryRecord(source=SOURCE, external_id=str(raw["id"]), name=name)


def service_from_square_item(raw: Raw, *, category_id: uuid.UUID | None, currency: str) -> ServiceRecord:
    """An ITEM: its first variation gives the price and duration (`currency`: the tenant's,
    when Square names none)."""
    data = raw.get("item_data") or {}
    name = clip(data.get("name"), 200)
    if not name:
        raise RecordError("item has no name")
    variations = [v for v in data.get("variations") or [] if isinstance(v, dict)]
    first = (variations[0].get("item_variation_data") or {}) if variations else {}
    money = first.get("price_money") or {}
    duration_ms = first.get("service_duration")
    # VARIABLE_PRICING: priced at the time of sale. Kept as variable, not as a price of 0.
    variable = first.get("pricing_type") == "VARIABLE_PRICING" or (bool(first) and money.get("amount") is None)
    price = 0 if variable else int(money.get("amount") or 0)
    with money_rules():
        validate_minor_units(price, "price_amount")
    return ServiceRecord(
        source=SOURCE,
        external_id=str(raw["id"]),
        name=name,
        category_id=category_id,
        price_amount=price,
        price_is_variable=variable,
        currency=str(money.get("currency") or currency)[:3],
        duration_minutes=max(1, round(int(duration_ms) / 60000)) if duration_ms else 60,
        is_active=not raw.get("is_deleted", False),
    )


def variation_from_square(raw: Raw, *, service_id: uuid.UUID | None) -> VariationRecord:
    data = raw.get("item_variation_data") or {}
    money = data.get("price_money") or {}
    return VariationRecord(
        provider=SOURCE,
        external_id=str(raw["id"]),
        item_external_id=str(data.get("item_id") or ""),
        service_id=service_id,
        name=clip(data.get("name"), 200),
        # None: a variable price (VARIABLE_PRICING), set at the time of sale.
        price_amount=(
            int(money["amount"])
            if money.get("amount") is not None and data.get("pricing_type") != "VARIABLE_PRICING"
            else None
        ),
    )


class SquareCatalogImporter(ImporterBase):
    """Catalog objects of one type at a time: CATEGORY, then ITEM, then ITEM_VARIATION (the
    caller orders the pages), so references resolve within the run."""

    change_source = SOURCE

    def __init__(self, *, tenant: Tenant, items_by_id: dict[str, Raw]):
        super().__init__()
        self.tenant = tenant
        self.items_by_id = items_by_id
        self.categories: dict[str, ServiceCategory] = {}
        self.services: dict[str, Service] = {}
        self.variations: dict[str, CatalogVariation] = {}
        self._page: list[Raw] = []

    def forget(self, raw: Raw) -> None:
        # A rolled-back savepoint may leave a half-applied object in a map: read them again.
        self.categories, self.services, self.variations = {}, {}, {}
        self.prefetch(self._page)

    def prefetch(self, records: list[Raw]) -> None:
        self._page = records
        if not self.categories:
            self.categories = {
                c.external_id: c for c in ServiceCategory.objects.filter(source=SOURCE).exclude(external_id="")
            }
        if not self.services:
            self.services = {s.external_id: s for s in Service.objects.filter(source=SOURCE).exclude(external_id="")}
        ids = [self.external_id_of(r) for r in records if isinstance(r, dict) and r.get("type") == "ITEM_VARIATION"]
        missing = [i for i in ids if i not in self.variations]
        if missing:
            for variation in CatalogVariation.objects.filter(provider=SOURCE, external_id__in=missing):
                self.variations[variation.external_id] = variation

    def import_record(self, raw: Raw) -> str:
        if not isinstance(raw, dict) or not raw.get("id"):
            raise RecordError("catalog object has no id")
        kind, external_id = raw.get("type"), str(raw["id"])
        with money_rules():
            if kind == "CATEGORY":
                outcome, category = service_category_upsert_from_provider(
                    tenant=self.tenant, record=category_from_square(raw), existing=self.categories.get(external_id)
                )
                self.categories[external_id] = category
                return outcome
            if kind == "ITEM":
                item_category = self.categories.get(item_category_id(raw.get("item_data") or {}))
                record = service_from_square_item(
                    raw, category_id=item_category.id if item_category else None, currency=self.tenant.currency
                )
                item_outcome, service = service_upsert_from_provider(
                    tenant=self.tenant, record=record, existing=self.services.get(external_id)
                )
                self.services[external_id] = service
                return item_outcome
        if kind == "ITEM_VARIATION":
            item = self.services.get(str((raw.get("item_variation_data") or {}).get("item_id") or ""))
            variation_outcome, variation = catalog_variation_upsert(
                tenant=self.tenant,
                record=variation_from_square(raw, service_id=item.id if item else None),
                existing=self.variations.get(external_id),
            )
            self.variations[external_id] = variation
            return variation_outcome
        return SKIPPED


def flatten_catalog(objects: list[Raw]) -> list[Raw]:
    """Every CATEGORY, ITEM and ITEM_VARIATION once (variations also come nested in items),
    ordered so that what is referenced is written first."""
    seen: dict[str, Raw] = {}
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        seen.setdefault(str(obj.get("id") or id(obj)), obj)
        for variation in (obj.get("item_data") or {}).get("variations") or []:
            if isinstance(variation, dict) and variation.get("id"):
                seen.setdefault(variation["id"], {"type": "ITEM_VARIATION", **variation})
    order = {"CATEGORY": 0, "ITEM": 1, "ITEM_VARIATION": 2}
    return sorted(seen.values(), key=lambda o: order.get(o.get("type"), 3))


class SquareParts(TypedDict):
    tip_amount: int
    tax_amount: int
    discount_amount: int


# --- Square payments + orders -> sales ---------------------------------------------------


def sale_from_square_payment(
    raw: Raw,
    *,
    order: Raw,
    client_ids: Mapping[str, uuid.UUID],
    variation_services: Mapping[str, uuid.UUID | None],
) -> SaleRecord | None:
    """A payment as a sale; its order's line items as its lines, linked to services through
    catalog_object_id -> variation -> item -> Service (`variation_services`), its customer
    through `client_ids`. None: not money yet (APPROVED, PENDING: a later sync or webhook
    brings it). Refunds are records of their own, dated by Square (`refund_from_square`):
    the payment's refunded_money is not copied."""
    if not isinstance(raw, dict) or not raw.get("id"):
        raise RecordError("payment has no id")
    status = raw.get("status")
    if status not in ("COMPLETED", "FAILED", "CANCELED"):
        return None
    total = raw.get("total_money") or raw.get("amount_money") or {}
    if total.get("amount") is None or not total.get("currency"):
        raise RecordError("payment has no total_money")
    amount = int(total["amount"])
    currency = str(total["currency"])[:3]
    customer_id = raw.get("customer_id") or order.get("customer_id")
    return SaleRecord(
        source=SOURCE,
        external_id=str(raw["id"]),
        occurred_at=parse_timestamp(raw.get("created_at"), "created_at"),
        status="completed" if status == "COMPLETED" else "failed",
        total_amount=amount,
        currency=currency,
        client_id=client_ids.get(str(customer_id)) if customer_id else None,
        keep_client=True,  # a client matched earlier is kept
        lines=_line_items(order, variation_services) if order else None,
        **_square_parts(raw, order, amount),
    )


def _line_items(order: Raw, variation_services: Mapping[str, uuid.UUID | None]) -> tuple[SaleLine, ...]:
    lines = []
    for item in order.get("line_items") or []:
        name = item.get("name") or ""
        if item.get("variation_name") and item.get("variation_name") != "Regular":
            name = f"{name} ({item['variation_name']})"
        try:
            quantity = Decimal(str(item.get("quantity") or "1")).quantize(Decimal("0.001"))
        except InvalidOperation:
            raise RecordError(f"line item quantity {item.get('quantity')!r} is not a number") from None
        money = item.get("total_money") or item.get("base_price_money") or {}
        with money_rules():
            amount = validate_minor_units(int(money.get("amount") or 0), "line_items.amount")
        service_id = variation_services.get(str(item.get("catalog_object_id") or ""))
        lines.append(SaleLine(description=name[:255], quantity=quantity, amount=amount, service_id=service_id))
    return tuple(lines)


def _square_parts(payment: Raw, order: Raw, total: int) -> SquareParts:
    """Tip from the payment; tax and discount from its order when this payment pays the whole
    order (one tender: with several, the order's tax is not this payment's). Parts that do
    not fit in the total are left at 0 rather than reported wrong."""
    tip = int((payment.get("tip_money") or {}).get("amount") or 0)
    tax = discount = 0
    if order and len(order.get("tenders") or []) <= 1:
        tax = int((order.get("total_tax_money") or {}).get("amount") or 0)
        discount = int((order.get("total_discount_money") or {}).get("amount") or 0)
    if not 0 <= tip <= total:
        tip = 0
    if not 0 <= tax <= total - tip:
        tax = 0
    return SquareParts(tip_amount=tip, tax_amount=tax, discount_amount=max(discount, 0))


# Square refund statuses that mean money goes back (PENDING: issued, not yet settled; counted
# from the day it was issued, as the owner issued it then). REJECTED and FAILED gave nothing back.
SQUARE_REFUND_COUNTS = ("PENDING", "COMPLETED")


class SquarePaymentImporter(ImporterBase):
    """Payments become sales (analytics.services.transaction_upsert_from_provider)."""

    change_source = SOURCE

    def __init__(self, *, tenant: Tenant, orders: dict[str, Raw] | None = None):
        super().__init__()
        self.tenant = tenant
        self.orders = orders or {}
        self.transactions: dict[str, Transaction] = {}
        self.client_ids: dict[str, uuid.UUID] = {}
        self.variation_services: dict[str, uuid.UUID | None] = {}

    def prefetch(self, records: list[Raw]) -> None:
        ids = [self.external_id_of(r) for r in records if self.external_id_of(r)]
        self.transactions = {
            t.external_id: t
            for t in Transaction.objects.filter(source=SOURCE, external_id__in=ids).prefetch_related("line_items")
        }
        customer_ids = {r.get("customer_id") for r in records if isinstance(r, dict)}
        customer_ids |= {o.get("customer_id") for o in self.orders.values()}
        customer_ids.discard(None)
        self.client_ids = dict(
            ClientExternalId.objects.filter(provider=SOURCE, external_id__in=customer_ids).values_list(
                "external_id", "client_id"
            )
        )
        catalog_ids = {li.get("catalog_object_id") for o in self.orders.values() for li in o.get("line_items") or []}
        catalog_ids.discard(None)
        self.variation_services = dict(
            CatalogVariation.objects.filter(provider=SOURCE, external_id__in=catalog_ids).values_list(
                "external_id", "service_id"
            )
        )

    def forget(self, raw: Raw) -> None:
        self.transactions.pop(self.external_id_of(raw), None)

    def import_record(self, raw: Raw) -> str:
        order = self.orders.get(str(raw.get("order_id") or "")) if isinstance(raw, dict) else None
        record = sale_from_square_payment(
            raw, order=order or {}, client_ids=self.client_ids, variation_services=self.variation_services
        )
        if record is None:
            return SKIPPED
        with money_rules():
            outcome = transaction_upsert_from_provider(
                tenant=self.tenant, record=record, existing=self.transactions.get(record.external_id)
            )
        self.transactions.pop(record.external_id, None)  # what is cached of it may be stale now
        return outcome


# --- Square refunds -> refunds -------------------------------------------------------------

# Square refund statuses that mean money goes back (PENDING: issued, not yet settled; counted
# from the day it was issued, as the owner issued it then). REJECTED and FAILED gave nothing back.
SQUARE_REFUND_COUNTS = ("PENDING", "COMPLETED")


def refund_from_square(raw: Raw) -> RefundRecord:
    """A PaymentRefund, dated by its own `created_at` (the day the money went back, as
    Square's reports show it)."""
    if not isinstance(raw, dict) or not raw.get("id"):
        raise RecordError("refund has no id")
    money = raw.get("amount_money") or {}
    if money.get("amount") is None or not money.get("currency"):
        raise RecordError("refund has no amount_money")
    amount = int(money["amount"])
    return RefundRecord(
        source=SOURCE,
        external_id=str(raw["id"]),
        sale_external_id=str(raw.get("payment_id") or ""),
        amount=amount,
        refunded_at=parse_timestamp(raw.get("created_at"), "created_at"),
        counts=raw.get("status") in SQUARE_REFUND_COUNTS and amount > 0,
    )


class SquareRefundImporter(ImporterBase):
    """Square PaymentRefunds become refunds of the payment's sale (analytics.services.
    refund_upsert). A refund replaces the estimates the refunds migration left on a Square
    sale (rows of source square with no external id): Square's dated records are the truth."""

    change_source = SOURCE

    def __init__(self, *, tenant: Tenant):
        super().__init__()
        self.tenant = tenant
        self.refunds: dict[str, Refund] = {}
        self.sales: set[str] = set()

    def prefetch(self, records: list[Raw]) -> None:
        ids = [self.external_id_of(r) for r in records if self.external_id_of(r)]
        self.refunds = {r.external_id: r for r in Refund.objects.filter(source=SOURCE, external_id__in=ids)}
        payment_ids = {str(r.get("payment_id")) for r in records if isinstance(r, dict) and r.get("payment_id")}
        self.sales = set(
            Transaction.objects.filter(source=SOURCE, external_id__in=payment_ids).values_list("external_id", flat=True)
        )

    def forget(self, raw: Raw) -> None:
        self.refunds.pop(self.external_id_of(raw), None)

    def import_record(self, raw: Raw) -> str:
        record = refund_from_square(raw)
        existing = self.refunds.get(record.external_id)
        if record.sale_external_id not in self.sales:
            if existing is None:
                return SKIPPED  # a payment BrandVX does not have (before the history start)
            raise RecordError(f"refund {record.external_id} moved to payment {record.sale_external_id!r}")
        if existing is None and not record.counts:
            return SKIPPED
        with money_rules():
            outcome = refund_upsert(tenant=self.tenant, record=record, existing=existing)
        self.refunds.pop(record.external_id, None)  # what is cached of it may be stale now
        return outcome
