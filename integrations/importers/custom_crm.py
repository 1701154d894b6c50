"""The custom CRM push: contacts and transactions (with their refunds), mapped to typed
records and handed to clients' and analytics' services."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping

from analytics.models import Transaction
from analytics.records import RefundLine, SaleRecord
from analytics.rules import check_amounts, validate_choice, validate_currency, validate_minor_units
from analytics.services import transaction_upsert_from_provider
from clients.models import ClientExternalId
from clients.records import ContactRecord
from integrations.importers.base import ImporterBase, Raw, RecordError, clip, make_contact, money_rules, parse_timestamp
from tenants.models import Tenant

SOURCE = "custom_crm"


def contact_from_custom(raw: Raw, *, region: str) -> ContactRecord:
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


def sale_from_custom(raw: Raw, *, currency: str, client_ids: Mapping[str, uuid.UUID]) -> SaleRecord:
    """A transaction pushed by a custom CRM: amounts already in minor units, like our API, and
    refused exactly when the same sale sent to /api/v1/transactions/ would be (the API's
    validators and money rules). `currency`: the tenant's, when none is sent.

    Optional per transaction: `tip_amount`, `tax_amount`, `discount_amount` (default 0) and
    `refunds` [{"amount", "refunded_at", "external_id"?}], the sale's refunds, each on its
    own date; when sent, they replace the sale's refunds. Without `refunds`, a
    `refunded_amount` is one refund dated `refunded_at` (else occurred_at); status "refunded"
    means refunded_amount equals total_amount. The sale's refunded_amount and status follow
    its refunds. A sale sent without a known `client_external_id` has no client."""
    external_id = str(raw.get("external_id") or "") if isinstance(raw, dict) else ""
    if not external_id:
        raise RecordError("transaction has no external_id")
    with money_rules():
        amount = validate_minor_units(raw.get("total_amount"), "total_amount")
        refunded = validate_minor_units(raw.get("refunded_amount", 0), "refunded_amount")
        status = validate_choice(raw.get("status") or "completed", Transaction.Status, "status")
        sale_currency = validate_currency(raw.get("currency") or currency)
        tip = validate_minor_units(raw.get("tip_amount", 0), "tip_amount")
        tax = validate_minor_units(raw.get("tax_amount", 0), "tax_amount")
        discount = validate_minor_units(raw.get("discount_amount", 0), "discount_amount")
        check_amounts(
            Transaction(
                total_amount=amount,
                tip_amount=tip,
                tax_amount=tax,
                discount_amount=discount,
                status=status,
                refunded_amount=refunded,
            )
        )
    occurred_at = parse_timestamp(raw.get("occurred_at"), "occurred_at")
    return SaleRecord(
        source=SOURCE,
        external_id=external_id,
        occurred_at=occurred_at,
        # Completed or refunded follows the refunds; failed is the CRM's word.
        status="failed" if status == "failed" else "completed",
        total_amount=amount,
        currency=sale_currency,
        tip_amount=tip,
        tax_amount=tax,
        discount_amount=discount,
        client_id=client_ids.get(str(raw.get("client_external_id") or "")),
        keep_client=False,
        refunds=_custom_refunds(raw, status=status, total=amount, refunded=refunded, occurred_at=occurred_at),
    )


class CustomTransactionImporter(ImporterBase):
    """Pushed transactions become sales (analytics.services.transaction_upsert_from_provider)."""

    change_source = SOURCE
    external_id_key = "external_id"

    def __init__(self, *, tenant: Tenant):
        super().__init__()
        self.tenant = tenant
        self.transactions: dict[str, Transaction] = {}
        self.client_ids: dict[str, uuid.UUID] = {}

    def prefetch(self, records: list[Raw]) -> None:
        ids = [self.external_id_of(r) for r in records]
        self.transactions = {
            t.external_id: t
            for t in Transaction.objects.filter(source=SOURCE, external_id__in=ids).prefetch_related("refunds")
        }
        client_refs = {
            str(r.get("client_external_id")) for r in records if isinstance(r, dict) and r.get("client_external_id")
        }
        self.client_ids = dict(
            ClientExternalId.objects.filter(provider=SOURCE, external_id__in=client_refs).values_list(
                "external_id", "client_id"
            )
        )

    def forget(self, raw: Raw) -> None:
        self.transactions.pop(self.external_id_of(raw), None)

    def import_record(self, raw: Raw) -> str:
        record = sale_from_custom(raw, currency=self.tenant.currency, client_ids=self.client_ids)
        with money_rules():
            outcome = transaction_upsert_from_provider(
                tenant=self.tenant, record=record, existing=self.transactions.get(record.external_id)
            )
        self.transactions.pop(record.external_id, None)  # what is cached of it may be stale now
        return outcome


def _custom_refunds(
    raw: Raw, *, status: str, total: int, refunded: int, occurred_at: datetime.datetime
) -> tuple[RefundLine, ...] | None:
    """(external id, amount, refunded_at) of each refund sent; None when none were sent and
    neither the status nor `refunded_amount` says anything about them (the stored refunds
    are kept). Without a `refunds` list, a `refunded_amount` (all of it for "refunded", as the
    money rules require) is one refund dated `refunded_at`, else the sale's occurred_at."""
    sent = raw.get("refunds")
    if sent is None:
        if status != "refunded" and not refunded:
            return None
        when = parse_timestamp(raw["refunded_at"], "refunded_at") if raw.get("refunded_at") else occurred_at
        return (RefundLine("", refunded, when),) if refunded else ()
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
        refunds.append(RefundLine(clip(item.get("external_id"), 255), amount, when))
    if status == "failed" and refunds:
        raise RecordError("a failed transaction cannot have refunds")
    if sum(refund.amount for refund in refunds) > total:
        raise RecordError("the refunds exceed total_amount")
    return tuple(refunds)
