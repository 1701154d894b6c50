"""HubSpot: contacts."""

from __future__ import annotations

import datetime

from clients.records import ContactRecord
from integrations.importers.base import Raw, RecordError, make_contact


def contact_from_hubspot(raw: Raw, *, region: str, birthday_property: str = "") -> ContactRecord:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise RecordError("contact has no id")
    props = raw.get("properties") or {}
    birthday = props.get(birthday_property) if birthday_property else None
    if birthday and str(birthday).isdigit():  # date properties may come as epoch milliseconds
        birthday = datetime.datetime.fromtimestamp(int(birthday) / 1000, tz=datetime.UTC).date().isoformat()
    optout = props.get("hs_email_optout")
    return make_contact(
        external_id=str(raw["id"]),
        first_name=props.get("firstname"),
        last_name=props.get("lastname"),
        email=props.get("email"),
        phone=props.get("phone") or props.get("mobilephone"),
        birthday=birthday,
        email_unsubscribed={"true": True, "false": False}.get(str(optout).lower()) if optout is not None else None,
        region=region,
        created_at=raw.get("createdAt"),
    )
