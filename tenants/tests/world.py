"""The tenants app's contribution to the two-tenant world: a job, a support access and a
change record."""

from tenants.changes import Actor, record_change
from tenants.context import tenant_context
from tenants.models import BackgroundJob, SupportAccess, User


def build(world, tenant, owner) -> dict:
    staff = User.objects.filter(is_staff=True, username="support-agent").first() or User.objects.create(
        username="support-agent", email="support@brandvx.test", is_staff=True
    )
    with tenant_context(tenant.id, role="system"):
        job = BackgroundJob.objects.create(
            tenant=tenant, kind="world.example", params={"note": f"job of {tenant.name}"}
        )
        access = SupportAccess.objects.create(
            tenant=tenant, staff_user=staff, action="view", reason=f"ticket for {tenant.name}"
        )
        change = record_change(tenant=tenant, actor=Actor.of(owner), action="job.created", obj=job)
    return {"job_id": job.id, "support_access_id": access.id, "change_record_id": change.id}
