from django.db import migrations

from tenants.db.rls import enable_rls


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial")]

    operations = [
        enable_rls(
            "analytics_servicecategory",
            "analytics_service",
            "analytics_appointment",
            "analytics_transaction",
            "analytics_transactionlineitem",
        )
    ]
