"""The tenant registry and the users table are not tenant tables, but the runtime role may
not write them freely (tenants.db.roles.RUNTIME_PLATFORM_PRIVILEGES has the grants):

- tenants_tenant: every role reads the registry (a tenant is chosen before any context
  exists), but a tenant row is inserted, changed or deleted only inside that tenant's own
  context (tenant_create enters the new tenant's context). Not FORCEd: the owner (migrations,
  operators) is not filtered.
- tenants_user: a trigger refuses, for every role but the owner, granting staff or superuser
  status to an existing account and setting the password of a non-staff account (tenant
  users sign in with Supabase tokens, never with a password): a support page, a bug or an
  injected statement cannot turn a salon's owner into a password account or a staff member.
"""

from django.db import migrations

from tenants.db.rls import CURRENT_TENANT

TENANT_POLICIES = f"""
ALTER TABLE tenants_tenant ENABLE ROW LEVEL SECURITY;
CREATE POLICY registry_read ON tenants_tenant FOR SELECT USING (true);
CREATE POLICY own_tenant_insert ON tenants_tenant FOR INSERT WITH CHECK (id = {CURRENT_TENANT});
CREATE POLICY own_tenant_update ON tenants_tenant FOR UPDATE
    USING (id = {CURRENT_TENANT}) WITH CHECK (id = {CURRENT_TENANT});
CREATE POLICY own_tenant_delete ON tenants_tenant FOR DELETE USING (id = {CURRENT_TENANT});
"""

TENANT_POLICIES_REVERSE = """
DROP POLICY IF EXISTS own_tenant_delete ON tenants_tenant;
DROP POLICY IF EXISTS own_tenant_update ON tenants_tenant;
DROP POLICY IF EXISTS own_tenant_insert ON tenants_tenant;
DROP POLICY IF EXISTS registry_read ON tenants_tenant;
ALTER TABLE tenants_tenant DISABLE ROW LEVEL SECURITY;
"""

USER_GUARD = """
CREATE FUNCTION tenants_user_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The owner of the table (migrations, an operator's createsuperuser --database owner) is trusted.
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
    RETURN NEW;
  END IF;
  IF (NEW.is_staff AND NOT OLD.is_staff) OR (NEW.is_superuser AND NOT OLD.is_superuser) THEN
    RAISE EXCEPTION 'tenants_user: only the database owner may grant staff or superuser status'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.password IS DISTINCT FROM OLD.password AND NOT (OLD.is_staff OR OLD.is_superuser) THEN
    RAISE EXCEPTION 'tenants_user: passwords are set only on staff accounts'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER user_guard BEFORE UPDATE ON tenants_user FOR EACH ROW EXECUTE FUNCTION tenants_user_guard();
"""

USER_GUARD_REVERSE = """
DROP TRIGGER IF EXISTS user_guard ON tenants_user;
DROP FUNCTION IF EXISTS tenants_user_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0005_stale_jobs_schedule")]

    operations = [
        migrations.RunSQL(sql=TENANT_POLICIES, reverse_sql=TENANT_POLICIES_REVERSE),
        migrations.RunSQL(sql=USER_GUARD, reverse_sql=USER_GUARD_REVERSE),
    ]
