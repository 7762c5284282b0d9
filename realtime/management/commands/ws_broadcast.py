import json

from django.core.management.base import BaseCommand, CommandError

from realtime.api import broadcast


class Command(BaseCommand):
    help = "Broadcast {event, data} to every authenticated client (needs REDIS_URL from another process)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("event")
        parser.add_argument("data", nargs="?", default="null", help="JSON")

    def handle(self, *args, **options) -> None:
        try:
            data = json.loads(options["data"])
        except ValueError as exc:
            raise CommandError(f"data is not valid JSON: {exc}") from None
        try:
            broadcast(options["event"], data)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"broadcast {options['event']}")
