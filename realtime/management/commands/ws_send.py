import json

from django.core.management.base import BaseCommand, CommandError

from realtime.api import send_to_client


class Command(BaseCommand):
    help = "Send {event, data} to one client; exits 1 when it is not connected."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("client_id")
        parser.add_argument("event")
        parser.add_argument("data", nargs="?", default="null", help="JSON")

    def handle(self, *args, **options) -> None:
        try:
            data = json.loads(options["data"])
        except ValueError as exc:
            raise CommandError(f"data is not valid JSON: {exc}") from None
        if not send_to_client(options["client_id"], options["event"], data):
            raise CommandError(f"client {options['client_id']} is not connected")
        self.stderr.write("sent")
