"""Square's catalog variations (integrations' own table): what a sale's line item points at,
mapped to its item's Service. The Square catalog importer maps a variation to a
`VariationRecord`; `catalog_variation_upsert` is the one writer of the table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction

from integrations.models import CatalogVariation
from tenants.context import require_tenant
from tenants.models import Tenant


@dataclass(frozen=True)
class VariationRecord:
    """A provider's ITEM_VARIATION. `price_amount` None: a variable price, set at the time of
    sale. `service_id`: its item's Service, when the item is imported."""

    provider: str
    external_id: str
    item_external_id: str
    service_id: uuid.UUID | None
    name: str
    price_amount: int | None


def catalog_variation_upsert(
    *, tenant: Tenant, record: VariationRecord, existing: CatalogVariation | None = None
) -> tuple[str, CatalogVariation]:
    """Create or bring up to date the variation (by provider and external id): "created",
    "updated" or "unchanged" (`existing`, prefetched, tells that without a query)."""
    require_tenant(tenant)
    values = {
        "item_external_id": record.item_external_id,
        "service_id": record.service_id,
        "name": record.name,
        "price_amount": record.price_amount,
    }
    if existing is not None and all(getattr(existing, name) == value for name, value in values.items()):
        return "unchanged", existing
    with transaction.atomic():
        variation = (
            existing
            or CatalogVariation.objects.filter(provider=record.provider, external_id=record.external_id).first()
        )
        if variation is None:
            variation = CatalogVariation.objects.create(
                tenant=tenant, provider=record.provider, external_id=record.external_id, **values
            )
            return "created", variation
        changes = {name: value for name, value in values.items() if getattr(variation, name) != value}
        if not changes:
            return "unchanged", variation
        for name, value in changes.items():
            setattr(variation, name, value)
        variation.save(update_fields=list(changes))
    return "updated", variation
