"""No network call while a database transaction is open (the seed's pitfall 3): checked on
committed data, where "in a transaction" means a real one, not the test's wrapper."""

from __future__ import annotations

import pytest
import responses
from django.db import connection

from campaigns.batches import birthday_batch_run
from campaigns.generators import TemplateGenerator
from campaigns.models import MessageDraft
from campaigns.rules import SendResult
from campaigns.sending import draft_send
from campaigns.services import BIRTHDAY_BATCH_KIND
from campaigns.tests.factories import NO_QUIET_HOURS, make_client, make_draft, make_settings
from conftest import TenantWorld
from tenants import jobs
from tenants.context import tenant_context

pytestmark = pytest.mark.usefixtures("committed")


class TransactionCheckingGenerator(TemplateGenerator):
    calls = 0

    def generate(self, request):
        assert not connection.in_atomic_block, "generation ran inside a transaction"
        TransactionCheckingGenerator.calls += 1
        return super().generate(request)


def test_batch_generates_outside_transactions(monkeypatch):
    world = TenantWorld()
    for day in (2, 3, 4):
        make_client(world.tenant_a, birthday=(8, day))
    with tenant_context(world.tenant_a.id, role="system"):
        # No enqueue: this data is committed, and a real worker must not pick the job up.
        job = jobs.job_create(
            tenant=world.tenant_a,
            kind=BIRTHDAY_BATCH_KIND,
            params={"days_ahead": 5, "from": "2026-08-01", "channel": "sms"},
        )
    monkeypatch.setattr("campaigns.batches.BATCH_SIZE", 2)
    birthday_batch_run(tenant_id=world.tenant_a.id, job_id=job.id, generator=TransactionCheckingGenerator())
    assert TransactionCheckingGenerator.calls == 3
    with tenant_context(world.tenant_a.id, role="system"):
        assert MessageDraft.objects.count() == 3


@responses.activate
def test_the_provider_is_called_outside_transactions():
    world = TenantWorld()
    sid = "AC" + "1" * 32
    make_settings(
        world.tenant_a,
        sms_from_number="+14155550000",
        sender_credentials={"twilio_account_sid": sid, "twilio_auth_token": "tok"},
        **NO_QUIET_HOURS,
    )
    draft = make_draft(world.tenant_a, make_client(world.tenant_a), status=MessageDraft.Status.APPROVED)

    def twilio(request):
        assert not connection.in_atomic_block, "the provider was called inside a transaction"
        with tenant_context(world.tenant_a.id, role="system"):
            # The claim is committed before the call: another worker would see `sending`.
            assert MessageDraft.objects.get(id=draft.id).status == "sending"
        return 201, {}, '{"sid": "SM1", "status": "queued", "error_code": null}'

    responses.add_callback(
        responses.POST, f"https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json", callback=twilio
    )
    assert draft_send(tenant_id=world.tenant_a.id, draft_id=draft.id).status == SendResult.SENT
