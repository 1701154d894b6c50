from typing import Any

from rest_framework import serializers

from common.validation import StrictSerializer
from tenants.models import BackgroundJob, ChangeRecord, Membership, SupportAccess, Tenant


class TenantSerializer(serializers.ModelSerializer[Tenant]):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "timezone", "currency", "country"]


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    tenant = TenantSerializer()

    class Meta:
        model = Membership
        fields = ["tenant", "role"]


# The schema of GET /me/; the view builds the same JSON with me_json (tests/test_me_json.py).
class MeSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    email = serializers.EmailField(allow_blank=True)
    tenant = TenantSerializer(allow_null=True)
    role = serializers.CharField(allow_null=True)
    memberships = MembershipSerializer(many=True)


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    """TenantSerializer's output, in one step (the id is rendered as text by the renderer)."""
    return {
        "id": tenant.id,
        "name": tenant.name,
        "slug": tenant.slug,
        "timezone": tenant.timezone,
        "currency": tenant.currency,
        "country": tenant.country,
    }


def me_json(
    *, user_id: Any, email: str, membership: Membership | None, memberships: list[Membership]
) -> dict[str, Any]:
    """MeSerializer's output for the caller: asked on every page load, so built without
    ModelSerializer's per-request field construction."""
    return {
        "id": user_id,
        "email": email,
        "tenant": tenant_json(membership.tenant) if membership else None,
        "role": membership.role if membership else None,
        "memberships": [{"tenant": tenant_json(m.tenant), "role": m.role} for m in memberships],
    }


def job_progress(total: int, done: int) -> dict[str, Any]:
    """A job's progress as the API shows it: the counts and the percentage done (one decimal),
    None while the total is unknown."""
    percent = round(100 * done / total, 1) if total else None
    return {"total": total, "done": done, "percent": percent}


# The job list builds BackgroundJobSerializer's JSON from rows with job_json(); the class stays
# its schema and serializes single jobs (tests/test_job_rows.py holds the two equal). A comment,
# not a docstring: the schema would take a docstring as the component's description.
class BackgroundJobSerializer(serializers.ModelSerializer[BackgroundJob]):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = BackgroundJob
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "counts",
            "errors",
            "errors_truncated",
            "params",
            "result",
            "failure_reason",
            "started_by",
            "created_at",
            "started_at",
            "finished_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_progress(self, job: BackgroundJob) -> dict[str, Any]:
        return job_progress(job.progress_total, job.progress_done)


# What the API shows of a job, read as rows (job_json): the serializer's fields, `progress` as its
# two counts; `started_by` is the user's id.
JOB_ROW_FIELDS = tuple(
    column
    for name in BackgroundJobSerializer.Meta.fields
    for column in (("progress_total", "progress_done") if name == "progress" else (name,))
)


def job_json(row: dict[str, Any]) -> dict[str, Any]:
    """BackgroundJobSerializer's output for a row of JOB_ROW_FIELDS, in one step. Ids and
    times are left as Python values: the renderer writes them as the serializer's fields would."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "progress": job_progress(row["progress_total"], row["progress_done"]),
        "counts": row["counts"],
        "errors": row["errors"],
        "errors_truncated": row["errors_truncated"],
        "params": row["params"],
        "result": row["result"],
        "failure_reason": row["failure_reason"],
        "started_by": row["started_by"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "updated_at": row["updated_at"],
    }


class ChangeRecordSerializer(serializers.ModelSerializer[ChangeRecord]):
    class Meta:
        model = ChangeRecord
        fields = [
            "id",
            "occurred_at",
            "actor_kind",
            "actor_user_id",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "fields",
            "reason",
            "detail",
        ]
        read_only_fields = fields


class SupportAccessSerializer(serializers.ModelSerializer[SupportAccess]):
    staff_email = serializers.EmailField(source="staff_user.email", read_only=True)

    class Meta:
        model = SupportAccess
        fields = ["id", "staff_user", "staff_email", "action", "reason", "path", "detail", "remote_addr", "occurred_at"]
        read_only_fields = fields


class TenantDeleteRequestSerializer(StrictSerializer):
    confirm = serializers.CharField(
        max_length=200, help_text="The business's name, exactly: the deletion removes every row of the business."
    )


class TenantDeletionSerializer(serializers.Serializer[Any]):
    deletion_requested_at = serializers.DateTimeField(allow_null=True)
    deletion_due_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When every row of the business is purged (null: no deletion scheduled). Read-only until then.",
    )


class TenantExportAcceptedSerializer(serializers.Serializer[Any]):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
