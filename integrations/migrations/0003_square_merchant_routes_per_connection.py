"""A Square merchant routes to every connection whose own token Square confirmed for it
(see models.ConnectionRoute); other route kinds stay one lookup, one connection."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_rls"),
        ("tenants", "0005_stale_jobs_schedule"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="connectionroute",
            name="connection_route_unique",
        ),
        migrations.AddConstraint(
            model_name="connectionroute",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "square_merchant"), _negated=True),
                fields=("kind", "lookup"),
                name="connection_route_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="connectionroute",
            constraint=models.UniqueConstraint(
                fields=("kind", "lookup", "connection_id"), name="connection_route_unique_per_connection"
            ),
        ),
    ]
