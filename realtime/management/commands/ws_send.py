from django.core.management.base import BaseCommand, CommandError

from realtime.api import send_to_client
from realtime.management.event_arguments import add_event_arguments, event_and_data


class Command(BaseCommand):
    help = "Send {event, data} to one client; exits 1 when it is not connected."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("client_id")
        add_event_arguments(parser)

    def handle(self, *args, **options) -> None:
        event, data = event_and_data(options)
        if not send_to_client(options["client_id"], event, data):
            raise CommandError(f"client {options['client_id']} is not connected")
        self.stderr.write("sent")
