from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Outbox rows for audit actions (in their transaction) and for broadcasts.
        from game.audit import action_recorded
        from realtime import api
        from webhooks import outbox

        action_recorded.connect(outbox.on_action_recorded, dispatch_uid="webhooks.audit")
        api.on_broadcast(outbox.on_broadcast)

        from django.db.models.signals import post_delete, post_save

        from webhooks.models import Endpoint

        post_save.connect(outbox.forget_endpoints, sender=Endpoint, dispatch_uid="webhooks.endpoint-saved")
        post_delete.connect(outbox.forget_endpoints, sender=Endpoint, dispatch_uid="webhooks.endpoint-deleted")
