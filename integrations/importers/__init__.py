"""Provider importers: the framework (`base`) and one module per provider (`square`, `acuity`,
`hubspot`, `custom_crm`). Import from those modules; the names below are re-exported only so
that code written against the former `integrations/importers.py` keeps working."""

from integrations.importers.acuity import AcuityAppointmentImporter, acuity_client_key, contact_from_acuity_client
from integrations.importers.base import OUTCOMES, ClientImporter, PageCounts, import_page
from integrations.importers.custom_crm import CustomTransactionImporter, contact_from_custom
from integrations.importers.hubspot import contact_from_hubspot
from integrations.importers.square import (
    SquareCatalogImporter,
    SquarePaymentImporter,
    SquareRefundImporter,
    contact_from_square,
    flatten_catalog,
)

__all__ = [
    "OUTCOMES",
    "AcuityAppointmentImporter",
    "ClientImporter",
    "CustomTransactionImporter",
    "PageCounts",
    "SquareCatalogImporter",
    "SquarePaymentImporter",
    "SquareRefundImporter",
    "acuity_client_key",
    "contact_from_acuity_client",
    "contact_from_custom",
    "contact_from_hubspot",
    "contact_from_square",
    "flatten_catalog",
    "import_page",
]
