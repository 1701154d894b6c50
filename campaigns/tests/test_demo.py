from campaigns import demo
from campaigns.models import CampaignSettings, MessageDraft
from campaigns.tests.factories import make_client
from tenants.context import tenant_context


def test_demo_seed_creates_settings_and_drafts_and_is_rerunnable(world):
    for day in range(1, 8):
        make_client(world.tenant_a, birthday=(6, day))
    demo.seed(tenant=world.tenant_a, owner=world.owner_a)
    demo.seed(tenant=world.tenant_a, owner=world.owner_a)
    with tenant_context(world.tenant_a.id, role="system"):
        assert CampaignSettings.objects.get().birthday_run_enabled
        statuses = sorted(MessageDraft.objects.values_list("status", flat=True))
    assert statuses == ["approved", "discarded", "draft", "draft", "draft", "draft"]
