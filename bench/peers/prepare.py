"""Run under a peer's settings (`python -m bench.peers.prepare [FIRST_TENANT_ID]`): create its
tables as the database owner. For django-tenants, also the first tenant with its schema made
by django-tenants itself (the other schemas are cloned from it by bench.peers.setup)."""

import sys
from typing import Any

import django


def main() -> None:
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if "django_tenants" in settings.INSTALLED_APPS:
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        from bench.peers.setup import domain, schema
        from bench.peers.tenants_app.shared.models import Domain, Tenant

        tenant_id = sys.argv[1]
        tenant = Tenant(id=tenant_id, name="first", schema_name=schema(tenant_id))
        tenant.auto_create_schema = True
        tenant.save(verbosity=0)
        Domain.objects.create(domain=domain(tenant_id), tenant=tenant, is_primary=True)
    else:
        call_command("migrate", interactive=False, verbosity=0)
    if "django_rls" in settings.INSTALLED_APPS:
        from django.apps import apps
        from django_rls.models import RLSModel

        # django-rls' post_migrate handler matches a model's app_label ("rls_app") against the
        # app's full name ("bench.peers.rls_app"), so it skips apps not at the top level: ask
        # each model for its RLS (ENABLE, FORCE, its policies) the way that handler would.
        for model in apps.get_models():
            if issubclass(model, RLSModel):
                rls_model: Any = model  # django-rls ships no type hints
                if rls_model._rls_policies:
                    rls_model.enable_rls()


if __name__ == "__main__":
    main()
