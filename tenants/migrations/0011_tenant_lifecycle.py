"""The tenant's lifecycle (issue 27): a scheduled deletion on the tenant, the tombstone a purge
leaves, the audit log's trigger letting the purge (and only the purge, as the tables' owner)
remove a purged tenant's rows, and the beat entries of the purge and of retention."""

from django.db import migrations, models

from tenants.jobs.beat import periodic_task

# The audit log stays append-only for everyone, except two deletions by the tables' owner:
# the purge of a whole tenant, in a transaction that names that tenant in
# app.purge_tenant_id (tenants.lifecycle.dangerously_purge_tenant), and the retention of
# rows older than app.audit_retention_cutoff (tenants.jobs.retention).
PURGEABLE_TRIGGER = """
CREATE OR REPLACE FUNCTION tenants_supportaccess_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE'
     AND (OLD.tenant_id::text = current_setting('app.purge_tenant_id', true)
          OR OLD.occurred_at < nullif(current_setting('app.audit_retention_cutoff', true), '')::timestamptz)
     AND current_user = (SELECT tableowner FROM pg_tables WHERE schemaname = TG_TABLE_SCHEMA AND tablename = TG_TABLE_NAME)
  THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'tenants_supportaccess is append-only';
END $$;
"""
APPEND_ONLY_TRIGGER = """
CREATE OR REPLACE FUNCTION tenants_supportaccess_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tenants_supportaccess is append-only';
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0010_support_writes_audited"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="TenantTombstone",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        editable=False, help_text="The purged tenant's id.", primary_key=True, serialize=False
                    ),
                ),
                ("name_hash", models.CharField(max_length=64)),
                ("tenant_created_at", models.DateTimeField()),
                ("deletion_requested_at", models.DateTimeField(blank=True, null=True)),
                ("purged_at", models.DateTimeField()),
                (
                    "purged_by",
                    models.CharField(help_text="beat (a scheduled deletion) or the support engineer.", max_length=254),
                ),
            ],
            options={
                "ordering": ["-purged_at"],
            },
        ),
        migrations.AddField(
            model_name="tenant",
            name="deletion_due_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="tenant",
            name="deletion_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(PURGEABLE_TRIGGER, APPEND_ONLY_TRIGGER),
        periodic_task(
            name="tenants: purge tenants whose deletion is due (hourly)",
            task="tenants.purge_due_tenants",
            crontab={"minute": "23"},
            description="Deletes every row of a tenant whose deletion grace period has ended, leaving a tombstone.",
        ),
        periodic_task(
            name="tenants: retention of webhook events and job details (daily)",
            task="tenants.purge_expired_details",
            crontab={"minute": "41", "hour": "3"},
            description="Clears webhook events and finished jobs' details older than their retention (settings).",
        ),
    ]
