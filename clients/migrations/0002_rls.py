from django.db import migrations

from tenants.db.rls import enable_rls


class Migration(migrations.Migration):
    dependencies = [("clients", "0001_initial")]

    operations = [enable_rls("clients_client", "clients_clientexternalid", "clients_tag", "clients_clienttag")]
