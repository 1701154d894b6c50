"""The draft list is built from rows (serializers.draft_json), single drafts with
MessageDraftSerializer: both must give the same JSON, byte for byte, including the nested
client and its display name (issue 15)."""

import datetime

import pytest
from django.utils import timezone

from campaigns.api.serializers import DRAFT_ROW_FIELDS, MessageDraftSerializer, draft_json
from campaigns.models import Channel, MessageDraft
from campaigns.tests.factories import make_client, make_draft
from clients.models import Client
from common.renderers import JSONRenderer
from tenants.context import tenant_context
from tenants.models import BackgroundJob
from tenants.testing import assert_items_match_details, every_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def drafts(world):
    """Drafts with and without each optional value (approver, times, job, recipient, failure,
    provider id, fallback), for clients named by their name, their email, their phone or nothing."""
    tenant, now = world.tenant_a, timezone.now()
    named = make_client(tenant, first_name="Zoë \u2028")
    by_email = make_client(tenant, first_name="", email="only@example.test")
    with tenant_context(tenant.id, role="system"):
        by_email_and_phone = Client.objects.create(tenant=tenant, email="mail@example.test", phone="+14155550778")
        by_phone = Client.objects.create(tenant=tenant, phone="+14155550777")
        nameless = Client.objects.create(tenant=tenant)
        job = BackgroundJob.objects.create(tenant=tenant, kind="campaigns.birthday_batch")
    day = datetime.date(2026, 3, 1)
    made = [
        make_draft(tenant, named, occasion_date=day, body="Happy birthday, Zoë!\n— the salon"),
        make_draft(tenant, by_email, channel=Channel.EMAIL, occasion_date=day, status=MessageDraft.Status.SENT),
        make_draft(tenant, by_email_and_phone, occasion_date=day + datetime.timedelta(days=1)),
        make_draft(tenant, by_phone, occasion_date=day, status=MessageDraft.Status.FAILED),
        make_draft(tenant, nameless, occasion_date=day + datetime.timedelta(days=2)),
    ]
    with tenant_context(tenant.id, role="system"):
        MessageDraft.objects.filter(id=made[1].id).update(
            approved_by=world.owner_a,
            approved_at=now - datetime.timedelta(hours=2, microseconds=3),
            sent_at=now,
            job=job,
            recipient="only@example.test",
            provider_message_id="SM123",
            attempts=1,
            generator="llm:small",
            generator_fallback=True,
            generator_fallback_reason="timeout",
        )
        MessageDraft.objects.filter(id=made[3].id).update(
            approved_by=world.staff_a, approved_at=now, failure_reason="21610: unsubscribed", attempts=3, job=job
        )
    other = make_client(world.tenant_b)
    make_draft(world.tenant_b, other)
    return [draft.id for draft in made]


def test_draft_rows_give_the_serializers_json(world, drafts):
    render = JSONRenderer().render
    with tenant_context(world.tenant_a.id, role="owner_admin"):
        queryset = MessageDraft.objects.select_related("client").filter(id__in=drafts).order_by("id")
        from_serializer = MessageDraftSerializer(list(queryset), many=True).data
        from_rows = [draft_json(row) for row in queryset.values(*DRAFT_ROW_FIELDS)]
    assert len(from_rows) == 5
    assert render(from_rows) == render(from_serializer)
    names = sorted(item["client"]["name"] for item in from_rows)
    assert len(set(names)) == 5
    assert "(no name)" in names and "+14155550777" in names and "mail@example.test" in names


def test_draft_list_and_detail_endpoints_agree_on_every_page(world, drafts):
    listed = every_page(world.a, "/api/v1/message-drafts/?page_size=2")
    assert sorted(str(item["id"]) for item in listed) == sorted(str(draft_id) for draft_id in drafts)
    assert_items_match_details(world.a, listed, "/api/v1/message-drafts/{id}/")


def test_draft_list_filters_still_apply(world, drafts):
    failed = world.a.get("/api/v1/message-drafts/", {"status": "failed"}).json()["results"]
    assert [item["client"]["name"] for item in failed] == ["+14155550777"]
    emails = world.a.get("/api/v1/message-drafts/", {"channel": "email"}).json()["results"]
    assert [item["recipient"] for item in emails] == ["only@example.test"]
    later = world.a.get("/api/v1/message-drafts/", {"occasion_date_after": "2026-03-02"}).json()["results"]
    assert [item["client"]["name"] for item in later] == ["mail@example.test", "(no name)"]
