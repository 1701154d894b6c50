"""The value types a provider import hands to analytics' services: a sale with its lines and
refunds, a refund on its own, a catalog category or service, an appointment. Importers build
these from provider records (pure mapping); only analytics.services writes them
(`*_upsert_from_provider`, `refund_upsert`), with one rule for each derived field.

Money is integer minor units; instants are aware datetimes (the importers refuse the rest)."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

# What an upsert did with one record: the counters of an import job.
Outcome = Literal["created", "updated", "unchanged", "skipped"]
CREATED: Outcome = "created"
UPDATED: Outcome = "updated"
UNCHANGED: Outcome = "unchanged"
SKIPPED: Outcome = "skipped"


@dataclass(frozen=True)
class SaleLine:
    """One line of a provider's sale (`service_id`: the tenant's Service it sold, if known)."""

    description: str
    quantity: Decimal
    amount: int
    service_id: uuid.UUID | None = None

    def key(self) -> tuple[str, Decimal, int, str]:
        return (self.description, self.quantity, self.amount, str(self.service_id or ""))


@dataclass(frozen=True)
class RefundLine:
    """One refund of a sale as the sale's own record lists it (the custom CRM push)."""

    external_id: str
    amount: int
    refunded_at: datetime.datetime

    def key(self) -> tuple[str, int, datetime.datetime]:
        return (self.external_id, self.amount, self.refunded_at)


@dataclass(frozen=True)
class SaleRecord:
    """A provider's sale. `status` is the provider's word, "completed" or "failed": whether a
    completed sale is "refunded" follows its refunds (analytics.services owns that).

    `lines`: None when the record says nothing about them (the stored lines are kept).
    `refunds`: None when the record does not list them (refunds come as records of their own,
    or the stored ones are kept); a list replaces the sale's refunds from this source.
    `client_id`: the client matched by the provider's customer id; `keep_client`: a None
    client_id keeps a client matched earlier (Square) instead of clearing it (custom CRM)."""

    source: str
    external_id: str
    occurred_at: datetime.datetime
    status: Literal["completed", "failed"]
    total_amount: int
    currency: str
    tip_amount: int = 0
    tax_amount: int = 0
    discount_amount: int = 0
    client_id: uuid.UUID | None = None
    keep_client: bool = True
    lines: tuple[SaleLine, ...] | None = None
    refunds: tuple[RefundLine, ...] | None = None


@dataclass(frozen=True)
class RefundRecord:
    """A provider's refund of one of its sales (`sale_external_id`, same source), dated by
    the provider. `counts`: whether money went back (a rejected or failed refund does not:
    a stored one is removed)."""

    source: str
    external_id: str
    sale_external_id: str
    amount: int
    refunded_at: datetime.datetime
    counts: bool = True


@dataclass(frozen=True)
class CategoryRecord:
    source: str
    external_id: str
    name: str


@dataclass(frozen=True)
class ServiceRecord:
    """A provider's bookable service (`price_is_variable`: priced at the time of sale)."""

    source: str
    external_id: str
    name: str
    price_amount: int
    currency: str
    duration_minutes: int
    category_id: uuid.UUID | None = None
    price_is_variable: bool = False
    is_active: bool = True


@dataclass(frozen=True)
class AppointmentRecord:
    source: str
    external_id: str
    start_at: datetime.datetime
    end_at: datetime.datetime
    status: str
    price_amount: int
    currency: str
    staff_name: str = ""
