from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class WebuiConfig(AppConfig):
    name = "webui"
    verbose_name = "Web admin"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from realtime.tokens import parse_duration
        from webui.session import revoke_on_logout

        user_logged_out.connect(revoke_on_logout, dispatch_uid="webui.revoke_on_logout")

        # Refuse a malformed lifetime at start, not at the first page load.
        try:
            parse_duration(settings.WEBUI_TOKEN_LIFETIME)
        except ValueError as exc:
            raise ImproperlyConfigured(f"WEBUI_TOKEN_LIFETIME: {exc}") from None
