"""The clients app's contribution to the two-tenant world."""

from clients.models import Client, ClientExternalId, ClientTag, Tag
from tenants.context import tenant_context


def build(world, tenant, owner) -> dict:
    label = tenant.name.replace(" ", "")
    with tenant_context(tenant.id, role="system"):
        client = Client.objects.create(
            tenant=tenant, first_name=f"Ada{label}", last_name=f"Secret{label}", email=f"ada@{label.lower()}.test",
            phone="+14155550100", birthday_month=6, birthday_day=1, birth_year=1990, email_consent=True, sms_consent=True,
        )
        tag = Tag.objects.create(tenant=tenant, name=f"vip-{label}")
        ClientTag.objects.create(tenant=tenant, client=client, tag=tag)
        external = ClientExternalId.objects.create(tenant=tenant, client=client, provider="square", external_id=f"SQ-{label}")
    return {"client_id": client.id, "tag_id": tag.id, "tag_name": tag.name, "external_id": external.id, "secret": f"Secret{label}"}
