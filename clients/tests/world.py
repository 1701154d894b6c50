"""The clients app's contribution to the two-tenant world."""

from clients import consent
from clients.models import Client, ClientExternalId, ClientImport, ClientTag, ConsentOrigin, Tag
from clients.suppression import suppress
from tenants.context import tenant_context
from tenants.models import BackgroundJob


def build(world, tenant, owner) -> dict:
    label = tenant.name.replace(" ", "")
    with tenant_context(tenant.id, role="system"):
        client = Client.objects.create(
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
        tag = Tag.objects.create(tenant=tenant, name=f"vip-{label}")
        ClientTag.objects.create(tenant=tenant, client=client, tag=tag)
        external = ClientExternalId.objects.create(
            tenant=tenant, client=client, provider="square", external_id=f"SQ-{label}"
        )
        job = BackgroundJob.objects.create(
            tenant=tenant, kind="clients.import_csv", params={"filename": f"{label}.csv"}
        )
        upload = ClientImport.objects.create(
            tenant=tenant,
            job=job,
            filename=f"{label}.csv",
            content=f"first_name\nSecret{label}\n",
            size_bytes=20,
            row_count=1,
        )
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
