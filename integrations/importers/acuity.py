"""Acuity: clients (keyed by email, phone or name) and appointments, mapped to typed records
and handed to clients' and analytics' services."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.utils import timezone

from analytics.models import Appointment, Service
from analytics.records import AppointmentRecord, ServiceRecord
from analytics.services import appointment_upsert_from_provider, service_find_or_create_from_provider
from clients.records import ContactRecord
from clients.services import client_upsert
from integrations.importers.base import (
    ImporterBase,
    Raw,
    RecordError,
    clip,
    make_contact,
    money_rules,
    parse_timestamp,
    to_minor_units,
)
from tenants.models import Tenant

SOURCE = "acuity"


def acuity_client_key(raw: Raw) -> str:
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


def contact_from_acuity_client(raw: Raw, *, region: str) -> ContactRecord:
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


@dataclass(frozen=True)
class AcuityAppointment:
    """One Acuity appointment, mapped: the appointment, the person it is for (None: nobody
    to recognize), and its appointment type as a service (None: it has none)."""

    appointment: AppointmentRecord
    contact: ContactRecord | None
    service: ServiceRecord | None


def appointment_from_acuity(raw: Raw, *, currency: str, region: str, now: datetime.datetime) -> AcuityAppointment:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise RecordError("appointment has no id")
    external_id = str(raw["id"])
    start = parse_timestamp(raw.get("datetime"), "datetime")
    try:
        minutes = int(str(raw.get("duration") or "60"))
    except ValueError:
        raise RecordError(f"duration {raw.get('duration')!r} is not a number of minutes") from None
    end = start + datetime.timedelta(minutes=minutes)
    price = to_minor_units(raw.get("price") or "0", currency)
    # Acuity records a no-show as a cancellation marked "no-show": canceled AND noShow.
    if str(raw.get("noShow")).lower() in ("true", "1"):
        status = Appointment.Status.NO_SHOW
    elif str(raw.get("canceled")).lower() in ("true", "1"):
        status = Appointment.Status.CANCELED
    elif end <= now:
        status = Appointment.Status.COMPLETED
    else:
        status = Appointment.Status.BOOKED
    contact: ContactRecord | None
    try:
        contact = make_contact(
            external_id=f"acuity-appointment-{external_id}",
            first_name=raw.get("firstName"),
            last_name=raw.get("lastName"),
            email=raw.get("email"),
            phone=raw.get("phone"),
            birthday=None,
            region=region,
        )
    except RecordError:
        contact = None  # nobody to recognize: the appointment is kept without a client
    type_id = str(raw.get("appointmentTypeID") or "")
    service = None
    if type_id:
        service = ServiceRecord(
            source=SOURCE,
            external_id=type_id,
            name=clip(raw.get("type") or f"Appointment type {type_id}", 200),
            price_amount=price,
            duration_minutes=max(1, minutes),
            currency=currency,
        )
    appointment = AppointmentRecord(
        source=SOURCE,
        external_id=external_id,
        start_at=start,
        end_at=end,
        status=status,
        price_amount=price,
        currency=currency,
        staff_name=clip(raw.get("calendar"), 100),
    )
    return AcuityAppointment(appointment=appointment, contact=contact, service=service)


class AcuityAppointmentImporter(ImporterBase):
    """Appointments (analytics.services.appointment_upsert_from_provider), with the client
    each is for (clients.services.client_upsert, recognized by email or phone only: Acuity
    has no client ids) and its appointment type as a service, created the first time."""

    change_source = SOURCE

    def __init__(self, *, tenant: Tenant, now: datetime.datetime | None = None):
        super().__init__()
        self.tenant = tenant
        self.now = now or timezone.now()
        self.appointments: dict[str, Appointment] = {}
        self.services: dict[str, Service] = {}

    def prefetch(self, records: list[Raw]) -> None:
        ids = [self.external_id_of(r) for r in records if self.external_id_of(r)]
        self.appointments = {a.external_id: a for a in Appointment.objects.filter(source=SOURCE, external_id__in=ids)}
        type_ids = {
            str(r.get("appointmentTypeID")) for r in records if isinstance(r, dict) and r.get("appointmentTypeID")
        }
        self.services = {s.external_id: s for s in Service.objects.filter(source=SOURCE, external_id__in=type_ids)}

    def forget(self, raw: Raw) -> None:
        self.appointments.pop(self.external_id_of(raw), None)
        self.services = {}  # a service created by a rolled-back record is gone too

    def import_record(self, raw: Raw) -> str:
        mapped = appointment_from_acuity(raw, currency=self.tenant.currency, region=self.tenant.country, now=self.now)
        if mapped.contact is not None:
            self.note_dropped(mapped.contact)
        record = mapped.appointment
        existing = self.appointments.get(record.external_id)
        service = self.services.get(mapped.service.external_id) if mapped.service is not None else None
        client_id = None
        if existing is None or existing.client_id is None:
            client_id = self._client_for(mapped.contact)
        with money_rules():
            if existing is None and service is None and mapped.service is not None:
                service = service_find_or_create_from_provider(tenant=self.tenant, record=mapped.service)
                self.services[service.external_id] = service
            outcome = appointment_upsert_from_provider(
                tenant=self.tenant,
                record=record,
                existing=existing,
                client_id=client_id,
                service_id=service.id if service is not None else None,
            )
        self.appointments.pop(record.external_id, None)  # what is cached of it may be stale now
        return outcome

    def _client_for(self, contact: ContactRecord | None) -> uuid.UUID | None:
        # Acuity has no client ids: a person is recognized by email or phone only.
        if contact is None or not (contact.email or contact.phone):
            return None
        return client_upsert(tenant=self.tenant, source=SOURCE, record=contact, link=False).client.id
