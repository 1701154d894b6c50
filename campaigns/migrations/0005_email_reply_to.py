"""The salon's address is a Reply-To, never a sender: `email_from_address` becomes
`email_reply_to` (stored values are kept, and are from now on only the Reply-To)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_stale_sending_schedule")]

    operations = [
        migrations.RenameField("campaignsettings", "email_from_address", "email_reply_to"),
        migrations.AlterField(
            model_name="campaignsettings",
            name="email_reply_to",
            field=models.EmailField(
                blank=True,
                max_length=254,
                help_text="The salon's address: the Reply-To of birthday emails (sent from DEFAULT_FROM_EMAIL).",
            ),
        ),
    ]
