"""The rules and figures of analytics, each written once.

Pure Python, not scoped to a tenant: what an input must be (currencies, amounts, quantities,
texts, instants), the money rules of a sale, the limits and windows of the insights, and how
their figures are rounded (docs/insights.md, "Rounding"). The lengths of stored texts are the
models' own `max_length` (`max_length_of`): one owner, read by the services, the serializers
(ModelSerializer) and the admin alike. Services, selectors, views and tests import from here.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import models

from analytics.models import Transaction
from clients.models import Source
from common.errors import InvalidInput

# Active ISO 4217 codes a business can be paid in (no precious metals, no testing codes).
ISO_CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN
    BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV
    MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG
    SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN
    UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()
)

# Quantities are numeric(12, 3).
MAX_QUANTITY = Decimal("999999999.999")
# What one request may send: one amount at most 10^12 minor units (ten billion dollars), so
# sums of a sale's lines and of a tenant's sales stay far from the bigint limit (stored
# amounts, from imports or sums of lines, may be larger: up to bigint); the lines of one
# sale: a till receipt, not a ledger (a 20,000-line sale made a 19 MB page).
MAX_MINOR_UNITS = 10**12
MAX_LINE_ITEMS = 200
# A service lasts at most a day.
MAX_DURATION_MINUTES = 24 * 60
# A refund time sent by a client whose clock runs a little ahead is still "now".
REFUND_CLOCK_SKEW = datetime.timedelta(minutes=5)

# --- the insights (docs/insights.md) ------------------------------------------------------

INTERVALS = ("day", "week", "month")
MAX_RANGE_YEARS = 3
DEFAULT_TOP_CLIENTS = 10
MAX_TOP_CLIENTS = 100
# Rebooked: another booking of the client within this many days of a completed visit (the
# aggregates' trigger function in migration analytics 0008 holds the same 60, frozen).
REBOOKING_WINDOW_DAYS = 60
UNCATEGORIZED = "Uncategorized"
OTHER_SERVICE = "Other"


def max_length_of(model: type[models.Model], field: str) -> int:
    """The stored length of a text field: the model owns it."""
    length = getattr(model._meta.get_field(field), "max_length", None)
    if not isinstance(length, int):
        raise TypeError(f"{model.__name__}.{field} has no max_length")
    return length


# --- inputs -------------------------------------------------------------------------------


def validate_currency(value: Any, field: str = "currency") -> str:
    if not isinstance(value, str) or value.strip().upper() not in ISO_CURRENCIES:
        raise InvalidInput(field, "must be a 3-letter ISO 4217 currency code, e.g. USD.")
    return value.strip().upper()


def validate_minor_units(value: Any, field: str, *, minimum: int = 0) -> int:
    # bool is an int in Python; 12.0 and "1250" are refused so that nobody sends dollars.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, "must be an integer amount in minor units (cents), e.g. 1250 for 12.50.")
    if value < minimum:
        raise InvalidInput(field, f"must be at least {minimum}.")
    if value >= 2**63:
        raise InvalidInput(field, "is too large.")
    return value


def validate_quantity(value: Any, field: str) -> Decimal:
    try:
        quantity = Decimal(str(value)) if not isinstance(value, (bool, float)) else None
    except InvalidOperation:
        quantity = None
    if quantity is None or not quantity.is_finite() or quantity <= 0 or quantity > MAX_QUANTITY:
        raise InvalidInput(field, "must be a positive number with at most 3 decimals.")
    if quantity != quantity.quantize(Decimal("0.001")):
        raise InvalidInput(field, "must have at most 3 decimals.")
    return quantity


def validate_duration(value: Any, field: str = "duration_minutes") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DURATION_MINUTES:
        raise InvalidInput(field, f"must be a whole number of minutes between 1 and {MAX_DURATION_MINUTES}.")
    return value


def validate_choice(value: Any, choices: type[models.TextChoices], field: str) -> str:
    if value not in choices.values:
        raise InvalidInput(field, f"must be one of {', '.join(choices.values)}.")
    return str(value)


def validate_source(value: Any, field: str = "source") -> str:
    """Where a row came from (`Source`: manual, csv, square, ...)."""
    return validate_choice(value, Source, field)


def validate_text(value: Any, field: str, max_length: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string.")
    text = value.strip()
    if required and not text:
        raise InvalidInput(field, "must not be blank.")
    if len(text) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters.")
    return text


def validate_instant(value: Any, field: str) -> datetime.datetime:
    if not isinstance(value, datetime.datetime) or value.tzinfo is None:
        raise InvalidInput(field, "must be a date-time with a time zone offset.")
    return value


def validate_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(field, "must be true or false.")
    return value


def check_unknown(changes: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "cannot be changed.")


# --- the money rules of a sale ------------------------------------------------------------


def check_amounts(sale: Transaction) -> None:
    """The money rules of a sale, for every writer (this API and every importer); the
    database's check constraints hold the same rules."""
    if sale.total_amount < 0 or sale.refunded_amount < 0:
        raise InvalidInput("total_amount" if sale.total_amount < 0 else "refunded_amount", "must not be negative.")
    # tip + tax may not exceed the total (compared without the sum: it could overflow).
    if sale.tip_amount > sale.total_amount - sale.tax_amount:
        raise InvalidInput("tip_amount", "tip_amount + tax_amount must not exceed total_amount.")
    if sale.refunded_amount > sale.total_amount:
        raise InvalidInput("refunded_amount", "must not exceed total_amount.")
    if sale.status == Transaction.Status.REFUNDED and sale.refunded_amount != sale.total_amount:
        raise InvalidInput("status", "refunded means fully refunded: refunded_amount must equal total_amount.")
    if sale.status == Transaction.Status.FAILED and sale.refunded_amount:
        raise InvalidInput("refunded_amount", "a failed transaction cannot have refunds.")


# --- rounding of the insights' figures (docs/insights.md, "Rounding") ----------------------


def half_up(value: Decimal, places: str = "1") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def average(total: int, count: int) -> int:
    """An average of minor units, as minor units, rounded half-up (never a float)."""
    return int(half_up(Decimal(total) / Decimal(count))) if count else 0


def percent(part: int, whole: int) -> Decimal:
    """part / whole in percent with one decimal; 0 for an empty whole (zeros, not nulls)."""
    return half_up(Decimal(100) * part / whole, "0.1") if whole else Decimal("0.0")


def change_percent(current: int | Decimal, previous: int | Decimal) -> Decimal | None:
    """Relative change in percent; None when there is nothing to compare with."""
    if not previous:
        return None
    return half_up(Decimal(100) * (Decimal(current) - Decimal(previous)) / Decimal(previous), "0.1")


def figure(current: int | Decimal, previous: int | Decimal) -> dict[str, Any]:
    return {"current": current, "previous": previous, "change_percent": change_percent(current, previous)}
