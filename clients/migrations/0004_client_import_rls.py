from django.db import migrations

from tenants.db.rls import enable_rls


class Migration(migrations.Migration):
    dependencies = [("clients", "0003_client_import")]

    operations = [enable_rls("clients_clientimport")]
