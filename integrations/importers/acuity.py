"""Acuity: clients (keyed by email, phone or name) and appointments."""

from __future__ import annotations

import datetime

from django.utils import timezone

from analytics.models import Appointment, Service
from clients.models import Client
from clients.services import client_upsert
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
    make_contact,
    parse_timestamp,
    to_minor_units,
)
from tenants.models import Tenant


def acuity_client_key(raw) -> str:
    """Acuity's clients have no id: a client is known by its email, else its phone, else its
    name (the same key on every sync, so an unchanged client is recognized)."""
    if not isinstance(raw, dict):
        return ""
    email = str(raw.get("email") or "").strip().lower()
    if email:
        return f"email:{email}"[:255]
    phone = "".join(ch for ch in str(raw.get("phone") or "") if ch.isdigit())
    if phone:
        return f"phone:{phone}"[:255]
    name = " ".join(f"{raw.get('firstName') or ''} {raw.get('lastName') or ''}".lower().split())
    return f"name:{name}"[:255] if name else ""


def contact_from_acuity_client(raw: dict, *, region: str) -> Contact:
    """GET /clients: {firstName, lastName, email, phone, notes}; no id, no birthday."""
    key = acuity_client_key(raw)
    if not key:
        raise RecordError("client has no name, email or phone")
    return make_contact(
        external_id=key,
        first_name=raw.get("firstName"),
        last_name=raw.get("lastName"),
        email=raw.get("email"),
        phone=raw.get("phone"),
        birthday=None,
        notes=raw.get("notes"),
        region=region,
    )


# --- Acuity appointments -> appointments (+ clients, + services per appointment type) ----


class AcuityAppointmentImporter(PageImporter):
    source = "acuity"

    def __init__(self, *, tenant: Tenant, now: datetime.datetime | None = None):
        self.tenant = tenant
        self.now = now or timezone.now()
        self.notes = []
        self.appointments: dict[str, Appointment] = {}
        self.services: dict[str, Service] = {}

    def prefetch(self, records) -> None:
        self._page = records
        ids = [self.external_id_of(r) for r in records if self.external_id_of(r)]
        self.appointments = {a.external_id: a for a in Appointment.objects.filter(source="acuity", external_id__in=ids)}
        type_ids = {
            str(r.get("appointmentTypeID")) for r in records if isinstance(r, dict) and r.get("appointmentTypeID")
        }
        self.services = {s.external_id: s for s in Service.objects.filter(source="acuity", external_id__in=type_ids)}

    def plan(self, raw: dict):
        if not isinstance(raw, dict) or not raw.get("id"):
            raise RecordError("appointment has no id")
        external_id = str(raw["id"])
        start = parse_timestamp(raw.get("datetime"), "datetime")
        try:
            minutes = int(str(raw.get("duration") or "60"))
        except ValueError:
            raise RecordError(f"duration {raw.get('duration')!r} is not a number of minutes") from None
        end = start + datetime.timedelta(minutes=minutes)
        currency = self.tenant.currency
        price = to_minor_units(raw.get("price") or "0", currency)
        # Acuity records a no-show as a cancellation marked "no-show": canceled AND noShow.
        if str(raw.get("noShow")).lower() in ("true", "1"):
            status = Appointment.Status.NO_SHOW
        elif str(raw.get("canceled")).lower() in ("true", "1"):
            status = Appointment.Status.CANCELED
        elif end <= self.now:
            status = Appointment.Status.COMPLETED
        else:
            status = Appointment.Status.BOOKED
        try:
            contact = make_contact(
                external_id=f"acuity-appointment-{external_id}",
                first_name=raw.get("firstName"),
                last_name=raw.get("lastName"),
                email=raw.get("email"),
                phone=raw.get("phone"),
                birthday=None,
                region=self.tenant.country,
            )
        except RecordError:
            contact = None  # nobody to recognize: the appointment is kept without a client
        else:
            self.notes.extend({"kind": "field_dropped", "field": d.field, "reason": d.reason} for d in contact.dropped)
        type_id = str(raw.get("appointmentTypeID") or "")
        values = {
            "start_at": start,
            "end_at": end,
            "status": status,
            "price_amount": price,
            "currency": currency,
            "staff_name": _clip(raw.get("calendar"), 100),
        }
        existing = self.appointments.get(external_id)
        service = self.services.get(type_id)
        if existing is not None:
            changes = _changed(existing, values)
            if service is not None and existing.service_id != service.id:
                changes["service_id"] = service.id
            if not changes and existing.client_id is not None:
                return UNCHANGED

            def update() -> str:
                if existing.client_id is None:
                    client = self._client_for(contact)
                    if client is not None:
                        changes["client_id"] = client.id
                if not changes:
                    return UNCHANGED
                _apply(existing, changes)
                return UPDATED

            return update

        def create() -> str:
            client = self._client_for(contact)
            service_row = service or self._service_for(type_id, raw, price, minutes)
            self.appointments[external_id] = Appointment.objects.create(
                tenant=self.tenant,
                source="acuity",
                external_id=external_id,
                client=client,
                service=service_row,
                **values,
            )
            return CREATED

        return create

    def _client_for(self, contact: Contact | None) -> Client | None:
        # Acuity has no client ids: a person is recognized by email or phone only.
        if contact is None or not (contact.email or contact.phone):
            return None
        return client_upsert(tenant=self.tenant, source="acuity", record=contact, link=False).client

    def _service_for(self, type_id: str, raw: dict, price: int, minutes: int) -> Service | None:
        if not type_id:
            return None
        service, _ = Service.objects.get_or_create(
            source="acuity",
            external_id=type_id,
            defaults={
                "tenant": self.tenant,
                "name": _clip(raw.get("type") or f"Appointment type {type_id}", 200),
                "price_amount": price,
                "duration_minutes": max(1, minutes),
                "currency": self.tenant.currency,
            },
        )
        return service
