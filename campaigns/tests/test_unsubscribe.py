"""One-click unsubscribe (RFC 8058, RFC 2369), as used: a real SMTP server on loopback receives
the birthday email, its link unsubscribes with one POST (never with a GET), and the next batch
drafts nothing for that client. Tokens are the only authority, and only for their own tenant."""

from __future__ import annotations

import base64
import datetime
import email
import email.policy
import re
import socket
import uuid

import pytest
from aiosmtpd.controller import Controller
from django.test import Client as HttpClient
from django.test import override_settings

from campaigns import unsubscribe
from campaigns.batches import birthday_batch_run
from campaigns.models import MessageDraft
from campaigns.rules import SendResult
from campaigns.sending import draft_send
from campaigns.services import birthday_batch_start
from campaigns.tests.factories import make_client, make_draft
from clients.models import Client, ConsentEvent
from conftest import TenantWorld
from tenants.context import tenant_context
from tenants.models import BackgroundJob

Status = MessageDraft.Status


class Inbox:
    """aiosmtpd handler: keeps every message it receives."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            EMAIL_USE_TLS=False,  # a plain local SMTP server (the README says so)
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
        ):
            yield inbox
    finally:
        controller.stop()


def batch(tenant, owner, start: datetime.date) -> BackgroundJob:
    with tenant_context(tenant.id, role="owner_admin", user_id=owner.id):
        job = birthday_batch_start(tenant=tenant, acting_user=owner, days_ahead=7, start=start, channel="email")
    birthday_batch_run(tenant_id=tenant.id, job_id=job.id)
    with tenant_context(tenant.id, role="system"):
        return BackgroundJob.objects.get(id=job.id)


def consent_of(tenant, client) -> Client:
    with tenant_context(tenant.id, role="system"):
        return Client.objects.get(id=client.id)


def ledger(tenant, client) -> list[tuple[str, bool, str]]:
    with tenant_context(tenant.id, role="system"):
        return list(
            ConsentEvent.objects.filter(client_id=client.id)
            .order_by("recorded_at")
            .values_list("channel", "granted", "origin")
        )


def browser(address: str | None = None) -> HttpClient:
    # Each test its own caller address: the per-address limit counts in the shared Redis.
    return HttpClient(REMOTE_ADDR=address or f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7")


def test_a_birthday_email_over_smtp_unsubscribes_with_one_post_and_the_next_batch_skips_it(committed, smtp_server):
    world = TenantWorld()
    tenant = world.tenant_a
    ana = make_client(tenant, birthday=(3, 3), first_name="Ana", email="ana@example.test", phone="")
    first = batch(tenant, world.owner_a, datetime.date(2026, 3, 1))
    assert first.counts["created"] == 1
    with tenant_context(tenant.id, role="system"):
        draft = MessageDraft.objects.get(client_id=ana.id)
        MessageDraft.objects.filter(id=draft.id).update(status=Status.APPROVED)

    # The real sending path, over SMTP to the loopback server.
    assert draft_send(tenant_id=tenant.id, draft_id=draft.id).status == SendResult.SENT
    [received] = smtp_server.messages
    assert received["To"] == "ana@example.test"
    header = received["List-Unsubscribe"].strip()  # folded onto its own line (a long URL)
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    match = re.fullmatch(r"<(http://testserver/u/[^>]+/)>", header)
    assert match, header
    link = match.group(1)
    text = received.get_body(("plain",)).get_content()
    assert link in text and "Unsubscribe" in text  # the visible link
    path = link.removeprefix("http://testserver")

    # A GET (a mail scanner, or the person opening the link) only asks.
    page = browser().get(path)
    assert page.status_code == 200 and tenant.name in page.content.decode()
    assert 'name="List-Unsubscribe" value="One-Click"' in page.content.decode()
    assert consent_of(tenant, ana).email_consent is True

    # The mail client's one-click POST (RFC 8058), outside any test transaction.
    done = browser().post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert done.status_code == 200 and "Unsubscribed" in done.content.decode()
    assert consent_of(tenant, ana).email_consent is False
    assert ledger(tenant, ana)[-1] == ("email", False, "unsubscribe_link")
    # Repeating it changes nothing.
    events = len(ledger(tenant, ana))
    assert browser().post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert len(ledger(tenant, ana)) == events

    # Next year's batch drafts no email for her.
    second = batch(tenant, world.owner_a, datetime.date(2027, 3, 1))
    assert second.counts.get("created", 0) == 0 and second.counts["skipped_no_email_consent"] == 1
    with tenant_context(tenant.id, role="system"):
        assert MessageDraft.objects.filter(client_id=ana.id).count() == 1


def test_a_tampered_or_unknown_token_is_a_404_naming_nobody(world):
    ana = make_client(world.tenant_a, first_name="Ana")
    token = unsubscribe.token_make(tenant_id=world.tenant_a.id, client_id=ana.id, channel="email")
    unknown = unsubscribe.token_make(tenant_id=world.tenant_a.id, client_id=uuid.uuid4(), channel="email")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, unknown, "nonsense", token.split(":")[0] + ":x"):
        for method in ("get", "post"):
            response = getattr(browser(), method)(f"/u/{bad}/")
            body = response.content.decode()
            assert response.status_code == 404, (bad, method)
            assert world.tenant_a.name not in body and "Ana" not in body and "not valid" in body
    assert consent_of(world.tenant_a, ana).email_consent is True


def test_the_token_reveals_nothing_readable(world):
    ana = make_client(world.tenant_a)
    token = unsubscribe.token_make(tenant_id=world.tenant_a.id, client_id=ana.id, channel="email")
    encoded = token.split(":")[0]
    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    for secret in (world.tenant_a.id, ana.id):
        assert secret.hex not in token and str(secret) not in token and secret.bytes not in raw
    assert unsubscribe.token_read(token) == unsubscribe.Subject(world.tenant_a.id, ana.id, "email")
    # Another salt's signature (any other signed value of the project) is refused.
    from django.core import signing

    assert unsubscribe.token_read(signing.Signer(salt="other").sign(encoded)) is None


def test_a_token_of_tenant_a_cannot_be_replayed_against_tenant_b(world):
    ana = make_client(world.tenant_a, first_name="Ana")
    bo = make_client(world.tenant_b, first_name="Bo")
    # A valid token that names tenant B with tenant A's client, and one naming A with B's client.
    for tenant_id, client_id in ((world.tenant_b.id, ana.id), (world.tenant_a.id, bo.id)):
        token = unsubscribe.token_make(tenant_id=tenant_id, client_id=client_id, channel="email")
        for method in ("get", "post"):
            response = getattr(browser(), method)(f"/u/{token}/")
            assert response.status_code == 404
            assert world.tenant_a.name not in response.content.decode()
            assert world.tenant_b.name not in response.content.decode()
    assert consent_of(world.tenant_a, ana).email_consent is True
    assert consent_of(world.tenant_b, bo).email_consent is True
    # A's own token works for A's client only.
    token = unsubscribe.token_make(tenant_id=world.tenant_a.id, client_id=ana.id, channel="email")
    assert browser().post(f"/u/{token}/").status_code == 200
    assert consent_of(world.tenant_a, ana).email_consent is False
    assert consent_of(world.tenant_b, bo).email_consent is True


def test_an_sms_token_withdraws_sms_only(world):
    ana = make_client(world.tenant_a)
    token = unsubscribe.token_make(tenant_id=world.tenant_a.id, client_id=ana.id, channel="sms")
    response = browser().post(f"/u/{token}/")
    assert response.status_code == 200 and "text messages" in response.content.decode()
    client = consent_of(world.tenant_a, ana)
    assert client.sms_consent is False and client.email_consent is True


def test_other_methods_are_refused(world):
    ana = make_client(world.tenant_a)
    token = unsubscribe.token_make(tenant_id=world.tenant_a.id, client_id=ana.id, channel="email")
    assert browser().put(f"/u/{token}/").status_code == 405
    assert consent_of(world.tenant_a, ana).email_consent is True


def test_unsubscribe_is_rate_limited_per_address(world):
    ana = make_client(world.tenant_a)
    token = unsubscribe.token_make(tenant_id=world.tenant_a.id, client_id=ana.id, channel="email")
    address = f"192.0.2.{uuid.uuid4().int % 250}"
    limit = int(unsubscribe.RATE.split("/")[0])
    # A fresh window for this address (a rerun within the same minute would count on).
    from limits import parse

    from campaigns.unsubscribe import allowed

    allowed("warm-up")  # builds the limiter
    unsubscribe._limiter.clear(
        parse(unsubscribe.RATE), "unsubscribe", base64.urlsafe_b64encode(address.encode()).decode()
    )
    statuses = [browser(address).get(f"/u/{token}/").status_code for _ in range(limit + 1)]
    assert statuses[:limit] == [200] * limit and statuses[limit] == 429
    # Another address is not affected.
    assert browser().get(f"/u/{token}/").status_code == 200
    assert consent_of(world.tenant_a, ana).email_consent is True


def test_an_email_draft_carries_its_own_clients_link(world):
    from django.core import mail

    ana = make_client(world.tenant_a, email="ana@example.test")
    draft = make_draft(world.tenant_a, ana, status=Status.APPROVED, channel="email")
    assert draft_send(tenant_id=world.tenant_a.id, draft_id=draft.id).status == SendResult.SENT
    [message] = mail.outbox
    link = message.extra_headers["List-Unsubscribe"].strip("<>")
    token = link.removeprefix("http://testserver/u/").rstrip("/")
    assert unsubscribe.token_read(token) == unsubscribe.Subject(world.tenant_a.id, ana.id, "email")
    assert link in message.body
