from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        from anymail.signals import tracking

        from campaigns.delivery import on_anymail_tracking

        # ESP tracking events (delivered, bounced, complained, unsubscribed) reach the drafts.
        tracking.connect(on_anymail_tracking, dispatch_uid="campaigns.delivery.on_anymail_tracking")
