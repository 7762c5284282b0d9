from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime socket"

    def ready(self) -> None:
        # Open sockets follow accounts' changes (revocations, grants, deactivations).
        from realtime import access

        access.connect()
        # Every installed app's events.py registers its socket events (realtime's own too).
        autodiscover_modules("events")
        from realtime import limits  # noqa: F401 - registers the WS_RATE_* system check
