"""The suppression list: who asked to be forgotten, as keyed hashes only.

An erased client (clients.erasure) leaves an HMAC of their normalized e-mail and E.164 phone
here and nothing else. Imports may bring the person back as a client (the salon's old
spreadsheet, a provider that still has them), but never with consent: clients.consent asks
`is_suppressed` before it records an import's grant, so every import path (CSV, Square,
Acuity, HubSpot, custom CRM) is covered by that one check.

The key is derived from DJANGO_SECRET_KEY (Django's salted_hmac with this module's salt), so
a copy of the table cannot be matched against a list of addresses without the server's secret.
Rotating the secret key makes the existing entries unmatchable: keep the old key in
DJANGO_SECRET_KEY_FALLBACKS, whose keys are checked too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils.crypto import salted_hmac

from clients.models import Suppression
from tenants.models import Tenant

_SALT = "brandvx.clients.suppression"
Kind = Suppression.Kind


def _digests(value: str) -> list[str]:
    """The digest of a normalized address under the current key, then under each fallback key."""
    return _digester()(value)


def _digester() -> Callable[[str], list[str]]:
    """`_digests` for many values: each key's HMAC is keyed once (salted_hmac of nothing),
    then copied and fed each value, which is the same HMAC as salted_hmac(_SALT, value)."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    keyed = [salted_hmac(_SALT, "", secret=key, algorithm="sha256") for key in keys]

    def digests(value: str) -> list[str]:
        out = []
        for mac in keyed:
            own = mac.copy()
            own.update(value.encode())
            out.append(own.hexdigest())
        return out

    return digests


def digest(value: str) -> str:
    """The keyed hash stored for a normalized e-mail or E.164 phone."""
    return _digests(value)[0]


def _pairs(email: str, phone: str) -> list[tuple[str, str]]:
    return [(kind, value) for kind, value in ((Kind.EMAIL, email), (Kind.PHONE, phone)) if value]


def suppress(*, tenant: Tenant, email: str, phone: str) -> None:
    """Add a person's normalized addresses to the tenant's list (idempotent)."""
    rows = [Suppression(tenant=tenant, kind=kind, digest=digest(value)) for kind, value in _pairs(email, phone)]
    Suppression.objects.bulk_create(rows, ignore_conflicts=True)


def is_suppressed(*, tenant: Tenant, email: str, phone: str) -> bool:
    """Whether either normalized address of a person is on the tenant's list."""
    return bool(suppressed(tenant=tenant, people=[(email, phone)]))


def suppressed(*, tenant: Tenant, people: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Of many (email, phone) pairs, the ones on the tenant's list, in one query (for bulk
    writers that record consent themselves)."""
    people = list(people)
    if not people or not Suppression.objects.filter(tenant_id=tenant.id).exists():
        # Most tenants have erased nobody: one indexed look-up, and no keyed hash of each address.
        return set()
    wanted: dict[tuple[str, str], list[tuple[str, str]]] = {}
    digests_of = _digester()
    for email, phone in people:
        for kind, value in _pairs(email, phone):
            for d in digests_of(value):
                wanted.setdefault((kind, d), []).append((email, phone))
    if not wanted:
        return set()
    digests = sorted({d for _, d in wanted})
    # One array parameter (`= ANY`), not one placeholder per digest: a batch asks thousands.
    found = Suppression.objects.filter(
        RawSQL('"clients_suppression"."digest" = ANY(%s)', (digests,), output_field=BooleanField()),
        tenant_id=tenant.id,
    ).values_list("kind", "digest")
    return {person for key in found for person in wanted.get(key, [])}
