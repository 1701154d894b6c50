"""The clients app's contribution to the two-tenant world."""

from clients import consent
from clients.models import ConsentOrigin
from clients.suppression import suppress
from clients.tests.factories import (
    ClientExternalIdFactory,
    ClientFactory,
    ClientImportFactory,
    ClientTagFactory,
    TagFactory,
)
from tenants.context import tenant_context


def build(world, tenant, owner) -> dict:
    label = tenant.name.replace(" ", "")
    with tenant_context(tenant.id, role="system"):
        client = ClientFactory.create(
            tenant=tenant,
            first_name=f"Ada{label}",
            last_name=f"Secret{label}",
            email=f"ada@{label.lower()}.test",
            phone="+14155550100",
            birthday_month=6,
            birthday_day=1,
            birth_year=1990,
        )
        consent.consent_record(
            tenant=tenant,
            client=client,
            decisions={"email": True, "sms": True},
            origin=ConsentOrigin.API_USER,
            acting_user=owner,
        )
        tag = TagFactory.create(tenant=tenant, name=f"vip-{label}")
        ClientTagFactory.create(tenant=tenant, client=client, tag=tag)
        external = ClientExternalIdFactory.create(
            tenant=tenant, client=client, provider="square", external_id=f"SQ-{label}"
        )
        upload = ClientImportFactory.create(
            tenant=tenant, filename=f"{label}.csv", content=f"first_name\nSecret{label}\n"
        )
        job = upload.job
        # Someone erased earlier: on the suppression list.
        suppress(tenant=tenant, email=f"gone@{label.lower()}.test", phone="")
    return {
        "client_id": client.id,
        "tag_id": tag.id,
        "tag_name": tag.name,
        "external_id": external.id,
        "import_job_id": job.id,
        "client_import_id": upload.id,
        "secret": f"Secret{label}",
    }
