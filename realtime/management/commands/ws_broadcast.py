from django.core.management.base import BaseCommand, CommandError

from realtime.api import broadcast
from realtime.management import reach
from realtime.management.event_arguments import add_event_arguments, event_and_data


class Command(BaseCommand):
    help = (
        "Broadcast {event, data} to every authenticated client of the running server(s): through "
        "Redis with REDIS_URL, else through the local server's HTTP API."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        add_event_arguments(parser)
        reach.add_reach_arguments(parser)

    def handle(self, *args, **options) -> None:
        event, data = event_and_data(options)
        if reach.uses_layer():
            reach.require_live_servers()
            try:
                broadcast(event, data)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        else:
            reach.call_api(options, "POST", "/broadcast", {"event": event, "data": data}, "ws_broadcast")
        self.stderr.write(f"broadcast {event}")
