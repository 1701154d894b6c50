"""Row Level Security on the campaigns tables."""

from django.db import migrations

from tenants.db.rls import enable_rls


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial")]

    operations = [enable_rls("campaigns_campaignsettings", "campaigns_messagedraft")]
