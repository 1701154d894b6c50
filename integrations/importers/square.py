"""Square: customers, the catalog (categories, services, variations), payments and refunds."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from analytics.models import Refund, Service, ServiceCategory, Transaction, TransactionLineItem
from analytics.rules import check_amounts, validate_minor_units
from analytics.services import refunds_follow_sale
from clients.models import ClientExternalId
from integrations.importers.base import (
    CREATED,
    SKIPPED,
    UNCHANGED,
    UPDATED,
    Contact,
    PageImporter,
    RecordError,
    _apply,
    _changed,
    _clip,
    _recount,
    _update_plan,
    make_contact,
    money_rules,
    parse_timestamp,
)
from integrations.models import CatalogVariation
from tenants.models import Tenant


def contact_from_square(raw: dict, *, region: str) -> Contact:
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


def item_category_id(item_data: dict) -> str:
    """Square's category of an item: reporting_category, else the first category, else the
    legacy category_id."""
    reporting = (item_data.get("reporting_category") or {}).get("id")
    if reporting:
        return reporting
    categories = item_data.get("categories") or []
    if categories and isinstance(categories[0], dict) and categories[0].get("id"):
        return categories[0]["id"]
    return item_data.get("category_id") or ""


class SquareCatalogImporter(PageImporter):
    """Writes catalog objects of one type at a time: CATEGORY, then ITEM, then ITEM_VARIATION
    (the caller orders the pages), so references resolve within the run."""

    source = "square"

    def __init__(self, *, tenant: Tenant, items_by_id: dict[str, dict]):
        self.tenant = tenant
        self.items_by_id = items_by_id
        self.categories: dict[str, ServiceCategory] = {}
        self.services: dict[str, Service] = {}
        self.variations: dict[str, CatalogVariation] = {}

    def forget(self) -> None:
        # A failed savepoint may leave a half-applied object in a map: reload from the
        # database (the savepoint's rollback made it consistent again).
        self.categories, self.services, self.variations = {}, {}, {}
        self.prefetch(self._page)

    def prefetch(self, records) -> None:
        self._page = records
        if not self.categories:
            self.categories = {
                c.external_id: c for c in ServiceCategory.objects.filter(source="square").exclude(external_id="")
            }
        if not self.services:
            self.services = {s.external_id: s for s in Service.objects.filter(source="square").exclude(external_id="")}
        ids = [self.external_id_of(r) for r in records if r.get("type") == "ITEM_VARIATION"]
        missing = [i for i in ids if i not in self.variations]
        if missing:
            for variation in CatalogVariation.objects.filter(provider="square", external_id__in=missing):
                self.variations[variation.external_id] = variation

    def plan(self, raw: dict):
        kind = raw.get("type")
        if not raw.get("id"):
            raise RecordError("catalog object has no id")
        if kind == "CATEGORY":
            return self._plan_category(raw)
        if kind == "ITEM":
            return self._plan_item(raw)
        if kind == "ITEM_VARIATION":
            return self._plan_variation(raw)
        return SKIPPED

    def _plan_category(self, raw: dict):
        name = _clip((raw.get("category_data") or {}).get("name"), 100)
        if not name:
            raise RecordError("category has no name")
        existing = self.categories.get(raw["id"])
        if existing is not None:
            if existing.name == name:
                return UNCHANGED
            return lambda: (_apply(existing, {"name": name}), UPDATED)[1]

        def create() -> str:
            # A category of the same name entered by hand is adopted, not duplicated (names
            # are unique per tenant, case-insensitively).
            same_name = ServiceCategory.objects.filter(name__iexact=name).first()
            if same_name is not None and same_name.external_id == "":
                _apply(same_name, {"source": "square", "external_id": raw["id"]})
                self.categories[raw["id"]] = same_name
                return UPDATED
            if same_name is not None:
                raise RecordError(f"category name {name!r} is already used by another source")
            self.categories[raw["id"]] = ServiceCategory.objects.create(
                tenant=self.tenant, name=name, source="square", external_id=raw["id"]
            )
            return CREATED

        return create

    def _plan_item(self, raw: dict):
        data = raw.get("item_data") or {}
        name = _clip(data.get("name"), 200)
        if not name:
            raise RecordError("item has no name")
        variations = [v for v in data.get("variations") or [] if isinstance(v, dict)]
        first = (variations[0].get("item_variation_data") or {}) if variations else {}
        money = first.get("price_money") or {}
        duration_ms = first.get("service_duration")
        category = self.categories.get(item_category_id(data))
        # VARIABLE_PRICING: priced at the time of sale. Kept as variable, not as a price of 0.
        variable = first.get("pricing_type") == "VARIABLE_PRICING" or (bool(first) and money.get("amount") is None)
        values = {
            "name": name,
            "category_id": category.id if category else None,
            "price_amount": 0 if variable else int(money.get("amount") or 0),
            "price_is_variable": variable,
            "currency": (money.get("currency") or self.tenant.currency)[:3],
            "duration_minutes": max(1, round(int(duration_ms) / 60000)) if duration_ms else 60,
            "is_active": not raw.get("is_deleted", False),
        }
        with money_rules():
            validate_minor_units(values["price_amount"], "price_amount")
        existing = self.services.get(raw["id"])
        if existing is not None:
            return _update_plan(existing, values)

        def create() -> str:
            self.services[raw["id"]] = Service.objects.create(
                tenant=self.tenant, source="square", external_id=raw["id"], **values
            )
            return CREATED

        return create

    def _plan_variation(self, raw: dict):
        data = raw.get("item_variation_data") or {}
        item_id = data.get("item_id") or ""
        service = self.services.get(item_id)
        money = data.get("price_money") or {}
        values = {
            "item_external_id": item_id,
            "service_id": service.id if service else None,
            "name": _clip(data.get("name"), 200),
            # None: a variable price (VARIABLE_PRICING), set at the time of sale.
            "price_amount": (
                int(money["amount"])
                if money.get("amount") is not None and data.get("pricing_type") != "VARIABLE_PRICING"
                else None
            ),
        }
        existing = self.variations.get(raw["id"])
        if existing is not None:
            return _update_plan(existing, values)

        def create() -> str:
            self.variations[raw["id"]] = CatalogVariation.objects.create(
                tenant=self.tenant, provider="square", external_id=raw["id"], **values
            )
            return CREATED

        return create


def flatten_catalog(objects: list[dict]) -> list[dict]:
    """Every CATEGORY, ITEM and ITEM_VARIATION once (variations also come nested in items),
    ordered so that what is referenced is written first."""
    seen: dict[str, dict] = {}
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        seen.setdefault(str(obj.get("id") or id(obj)), obj)
        for variation in (obj.get("item_data") or {}).get("variations") or []:
            if isinstance(variation, dict) and variation.get("id"):
                seen.setdefault(variation["id"], {"type": "ITEM_VARIATION", **variation})
    order = {"CATEGORY": 0, "ITEM": 1, "ITEM_VARIATION": 2}
    return sorted(seen.values(), key=lambda o: order.get(o.get("type"), 3))


# --- Square payments + orders -> transactions ----------------------------------------------


class SquarePaymentImporter(PageImporter):
    """Payments become transactions; their order's line items become line items, linked to
    services through catalog_object_id -> variation -> item -> Service."""

    source = "square"

    def __init__(self, *, tenant: Tenant, orders: dict[str, dict] | None = None):
        self.tenant = tenant
        self.orders = orders or {}
        self.transactions: dict[str, Transaction] = {}
        self.client_ids: dict[str, object] = {}
        self.variation_services: dict[str, object] = {}

    def prefetch(self, records) -> None:
        self._page = records
        ids = [self.external_id_of(r) for r in records if self.external_id_of(r)]
        self.transactions = {
            t.external_id: t
            for t in Transaction.objects.filter(source="square", external_id__in=ids).prefetch_related("line_items")
        }
        customer_ids = {r.get("customer_id") for r in records if isinstance(r, dict)}
        customer_ids |= {o.get("customer_id") for o in self.orders.values()}
        customer_ids.discard(None)
        self.client_ids = dict(
            ClientExternalId.objects.filter(provider="square", external_id__in=customer_ids).values_list(
                "external_id", "client_id"
            )
        )
        catalog_ids = {li.get("catalog_object_id") for o in self.orders.values() for li in o.get("line_items") or []}
        catalog_ids.discard(None)
        self.variation_services = dict(
            CatalogVariation.objects.filter(provider="square", external_id__in=catalog_ids).values_list(
                "external_id", "service_id"
            )
        )

    def plan(self, raw: dict):
        if not isinstance(raw, dict) or not raw.get("id"):
            raise RecordError("payment has no id")
        status = raw.get("status")
        if status not in ("COMPLETED", "FAILED", "CANCELED"):
            return SKIPPED  # APPROVED / PENDING: not money yet; a later sync or webhook brings it
        total = raw.get("total_money") or raw.get("amount_money") or {}
        if total.get("amount") is None or not total.get("currency"):
            raise RecordError("payment has no total_money")
        amount = int(total["amount"])
        existing = self.transactions.get(raw["id"])
        # Refunds are records of their own, dated by Square (SquareRefundImporter): the
        # payment's refunded_money is not copied, refunded_amount follows those records.
        refunded = existing.refunded_amount if existing is not None else 0
        if status == "COMPLETED":
            state = Transaction.Status.REFUNDED if amount > 0 and refunded >= amount else Transaction.Status.COMPLETED
        else:
            state = Transaction.Status.FAILED
        with money_rules():
            check_amounts(Transaction(total_amount=amount, refunded_amount=refunded, status=state))
        order = self.orders.get(raw.get("order_id") or "") or {}
        customer_id = raw.get("customer_id") or order.get("customer_id")
        values = {
            "occurred_at": parse_timestamp(raw.get("created_at"), "created_at"),
            "status": state,
            "total_amount": amount,
            "currency": total["currency"][:3],
            "client_id": self.client_ids.get(customer_id),
            **_square_parts(raw, order, amount),
        }
        lines = self._line_items(order, values["currency"])
        if existing is not None:
            changes = _changed(existing, values)
            if changes.get("client_id", True) is None:  # a client matched earlier is kept
                del changes["client_id"]
            stored = sorted((li.description, li.quantity, li.amount, li.service_id) for li in existing.line_items.all())
            lines_changed = order != {} and stored != sorted(lines)
            if not changes and not lines_changed:
                return UNCHANGED

            def update() -> str:
                _apply(existing, changes)
                if "currency" in changes:
                    refunds_follow_sale(tenant=self.tenant, sale=existing)
                if lines_changed:
                    self._replace_lines(existing, lines)
                return UPDATED

            return update

        def create() -> str:
            txn = Transaction.objects.create(tenant=self.tenant, source="square", external_id=raw["id"], **values)
            self._replace_lines(txn, lines)
            return CREATED

        return create

    def _line_items(self, order: dict, currency: str) -> list[tuple]:
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
            lines.append((name[:255], quantity, amount, self.variation_services.get(item.get("catalog_object_id"))))
        return lines

    def _replace_lines(self, txn: Transaction, lines: list[tuple]) -> None:
        TransactionLineItem.objects.filter(transaction=txn).delete()
        TransactionLineItem.objects.bulk_create(
            [
                TransactionLineItem(
                    tenant=self.tenant, transaction=txn, description=d, quantity=q, amount=a, service_id=s
                )
                for d, q, a, s in lines
            ]
        )


def _square_parts(payment: dict, order: dict, total: int) -> dict:
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
    return {"tip_amount": tip, "tax_amount": tax, "discount_amount": max(discount, 0)}


# Square refund statuses that mean money goes back (PENDING: issued, not yet settled; counted
# from the day it was issued, as the owner issued it then). REJECTED and FAILED gave nothing back.
SQUARE_REFUND_COUNTS = ("PENDING", "COMPLETED")


class SquareRefundImporter(PageImporter):
    """Square PaymentRefunds become Refund rows of the payment's sale, dated by their own
    `created_at` (the day the money went back, as Square's reports show it).

    A refund replaces the estimates the refunds migration left on a Square sale (rows of
    source square with no external id): Square's dated records are the truth."""

    source = "square"

    def __init__(self, *, tenant: Tenant):
        self.tenant = tenant
        self.refunds: dict[str, Refund] = {}
        self.sales: dict[str, Transaction] = {}

    def prefetch(self, records) -> None:
        self._page = records
        ids = [self.external_id_of(r) for r in records if self.external_id_of(r)]
        self.refunds = {r.external_id: r for r in Refund.objects.filter(source="square", external_id__in=ids)}
        payment_ids = {str(r.get("payment_id")) for r in records if isinstance(r, dict) and r.get("payment_id")}
        self.sales = {
            t.external_id: t for t in Transaction.objects.filter(source="square", external_id__in=payment_ids)
        }

    def plan(self, raw: dict):
        if not isinstance(raw, dict) or not raw.get("id"):
            raise RecordError("refund has no id")
        money = raw.get("amount_money") or {}
        if money.get("amount") is None or not money.get("currency"):
            raise RecordError("refund has no amount_money")
        amount = int(money["amount"])
        counts = raw.get("status") in SQUARE_REFUND_COUNTS and amount > 0
        existing = self.refunds.get(raw["id"])
        sale = self.sales.get(str(raw.get("payment_id") or ""))
        if sale is None:
            if existing is None:
                return SKIPPED  # a payment BrandVX does not have (before the history start)
            raise RecordError(f"refund {raw['id']} moved to payment {raw.get('payment_id')!r}")
        values = {
            "amount": amount,
            "currency": sale.currency,
            "refunded_at": parse_timestamp(raw.get("created_at"), "created_at"),
        }
        if existing is not None:
            if not counts:

                def drop() -> str:
                    existing.delete()
                    self.refunds.pop(raw["id"], None)
                    _recount(self.tenant, sale)
                    return UPDATED

                return drop
            changes = _changed(existing, values)
            if not changes:
                return UNCHANGED

            def update() -> str:
                _apply(existing, changes)
                _recount(self.tenant, sale)
                return UPDATED

            return update
        if not counts:
            return SKIPPED

        def create() -> str:
            Refund.objects.filter(transaction=sale, source="square", external_id="").delete()
            self.refunds[raw["id"]] = Refund.objects.create(
                tenant=self.tenant, transaction=sale, source="square", external_id=raw["id"], **values
            )
            _recount(self.tenant, sale)
            return CREATED

        return create
