"""The custom CRM push: contacts and transactions (with their refunds)."""

from __future__ import annotations

import datetime

from analytics.models import Refund, Transaction
from analytics.rules import check_amounts, validate_choice, validate_currency, validate_minor_units
from analytics.services import refunds_follow_sale
from clients.models import ClientExternalId
from integrations.importers.base import (
    CREATED,
    UNCHANGED,
    UPDATED,
    Contact,
    PageImporter,
    RecordError,
    _apply,
    _changed,
    _clip,
    _recount,
    make_contact,
    money_rules,
    parse_timestamp,
)
from tenants.models import Tenant


def contact_from_custom(raw: dict, *, region: str) -> Contact:
    if not isinstance(raw, dict):
        raise RecordError("contact is not an object")
    external_id = str(raw.get("external_id") or raw.get("id") or "").strip()
    if not external_id:
        raise RecordError("contact has no external_id")
    consent = raw.get("email_consent")
    return make_contact(
        external_id=external_id,
        first_name=raw.get("first_name"),
        last_name=raw.get("last_name"),
        email=raw.get("email"),
        phone=raw.get("phone"),
        birthday=raw.get("birthday"),
        notes=raw.get("notes"),
        email_unsubscribed=(not consent) if isinstance(consent, bool) else None,
        region=region,
    )


# --- custom CRM transactions -----------------------------------------------------------------


class CustomTransactionImporter(PageImporter):
    """Transactions pushed by a custom CRM: amounts already in minor units, like our API.

    Optional per transaction: `tip_amount`, `tax_amount`, `discount_amount` (default 0) and
    `refunds`: [{"amount", "refunded_at", "external_id"?}], the sale's refunds, each on its
    own date; when sent, they replace the sale's refunds. Without `refunds`, a
    `refunded_amount` is one refund dated `refunded_at` (else occurred_at); the API's money
    rules apply (status "refunded" means refunded_amount equals total_amount). The sale's
    refunded_amount and status follow its refunds."""

    source = "custom_crm"

    external_id_key = "external_id"

    def __init__(self, *, tenant: Tenant):
        self.tenant = tenant
        self.transactions: dict[str, Transaction] = {}
        self.client_ids: dict[str, object] = {}

    def prefetch(self, records) -> None:
        self._page = records
        ids = [self.external_id_of(r) for r in records]
        self.transactions = {
            t.external_id: t
            for t in Transaction.objects.filter(source="custom_crm", external_id__in=ids).prefetch_related("refunds")
        }
        client_refs = {
            str(r.get("client_external_id")) for r in records if isinstance(r, dict) and r.get("client_external_id")
        }
        self.client_ids = dict(
            ClientExternalId.objects.filter(provider="custom_crm", external_id__in=client_refs).values_list(
                "external_id", "client_id"
            )
        )

    def plan(self, raw: dict):
        external_id = self.external_id_of(raw)
        if not external_id:
            raise RecordError("transaction has no external_id")
        # The API's validators and money rules, so that a pushed sale is refused exactly when
        # the same sale sent to /api/v1/transactions/ would be.
        with money_rules():
            amount = validate_minor_units(raw.get("total_amount"), "total_amount")
            refunded = validate_minor_units(raw.get("refunded_amount", 0), "refunded_amount")
            status = validate_choice(raw.get("status") or "completed", Transaction.Status, "status")
            values = {
                "total_amount": amount,
                "currency": validate_currency(raw.get("currency") or self.tenant.currency),
                # Completed or refunded follows the refunds (below); failed is the CRM's word.
                "status": Transaction.Status.FAILED if status == "failed" else Transaction.Status.COMPLETED,
                "tip_amount": validate_minor_units(raw.get("tip_amount", 0), "tip_amount"),
                "tax_amount": validate_minor_units(raw.get("tax_amount", 0), "tax_amount"),
                "discount_amount": validate_minor_units(raw.get("discount_amount", 0), "discount_amount"),
            }
            check_amounts(Transaction(**{**values, "status": status, "refunded_amount": refunded}))
        occurred_at = parse_timestamp(raw.get("occurred_at"), "occurred_at")
        values.update(occurred_at=occurred_at, client_id=self.client_ids.get(str(raw.get("client_external_id") or "")))
        refunds = _custom_refunds(raw, status=status, total=amount, refunded=refunded, occurred_at=occurred_at)
        existing = self.transactions.get(external_id)
        if existing is not None:
            stored = sorted((r.external_id, r.amount, r.refunded_at) for r in existing.refunds.all())
            refunds_changed = refunds is not None and stored != sorted(refunds)
            if existing.status == Transaction.Status.REFUNDED and values["status"] == Transaction.Status.COMPLETED:
                values["status"] = existing.status  # refunded is derived from the refunds, not sent
            changes = _changed(existing, values)
            if not changes and not refunds_changed:
                return UNCHANGED

            def update() -> str:
                _apply(existing, changes)
                if "currency" in changes:
                    refunds_follow_sale(tenant=self.tenant, sale=existing)
                if refunds_changed:
                    self._replace_refunds(existing, refunds)
                return UPDATED

            return update

        def create() -> str:
            sale = Transaction.objects.create(
                tenant=self.tenant, source="custom_crm", external_id=external_id, **values
            )
            if refunds:
                self._replace_refunds(sale, refunds)
            return CREATED

        return create

    def _replace_refunds(self, sale: Transaction, refunds: list[tuple[str, int, datetime.datetime]]) -> None:
        Refund.objects.filter(transaction=sale).delete()
        Refund.objects.bulk_create(
            [
                Refund(
                    tenant=self.tenant,
                    transaction=sale,
                    source="custom_crm",
                    external_id=eid,
                    amount=amount,
                    currency=sale.currency,
                    refunded_at=when,
                )
                for eid, amount, when in refunds
            ]
        )
        _recount(self.tenant, sale)


def _custom_refunds(
    raw: dict, *, status: str, total: int, refunded: int, occurred_at: datetime.datetime
) -> list[tuple[str, int, datetime.datetime]] | None:
    """(external id, amount, refunded_at) of each refund sent; None when none were sent and
    neither the status nor `refunded_amount` says anything about them (the stored refunds
    are kept). Without a `refunds` list, a `refunded_amount` (all of it for "refunded", as the
    money rules require) is one refund dated `refunded_at`, else the sale's occurred_at."""
    sent = raw.get("refunds")
    if sent is None:
        if status != "refunded" and not refunded:
            return None
        when = parse_timestamp(raw["refunded_at"], "refunded_at") if raw.get("refunded_at") else occurred_at
        return [("", refunded, when)] if refunded else []
    if not isinstance(sent, list) or len(sent) > 100:
        raise RecordError("refunds must be a list of at most 100 refunds")
    refunds = []
    for index, item in enumerate(sent):
        if not isinstance(item, dict):
            raise RecordError(f"refunds[{index}] is not an object")
        amount = item.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount < 2**63:
            raise RecordError(f"refunds[{index}].amount must be a positive integer in minor units")
        when = parse_timestamp(item.get("refunded_at"), f"refunds[{index}].refunded_at")
        if when < occurred_at:
            raise RecordError(f"refunds[{index}].refunded_at is before the sale's occurred_at")
        refunds.append((_clip(item.get("external_id"), 255), amount, when))
    if status == "failed" and refunds:
        raise RecordError("a failed transaction cannot have refunds")
    if sum(amount for _, amount, _ in refunds) > total:
        raise RecordError("the refunds exceed total_amount")
    return refunds
