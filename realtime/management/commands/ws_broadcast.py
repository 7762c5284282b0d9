from django.core.management.base import BaseCommand, CommandError

from realtime.api import broadcast
from realtime.management.event_arguments import add_event_arguments, event_and_data


class Command(BaseCommand):
    help = "Broadcast {event, data} to every authenticated client (needs REDIS_URL from another process)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        add_event_arguments(parser)

    def handle(self, *args, **options) -> None:
        event, data = event_and_data(options)
        try:
            broadcast(event, data)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"broadcast {event}")
