from urllib.parse import quote

from django.core.management.base import BaseCommand, CommandError

from realtime.api import send_to_client
from realtime.management import reach
from realtime.management.event_arguments import add_event_arguments, event_and_data


class Command(BaseCommand):
    help = "Send {event, data} to one client; exits 1 when it is not connected."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("client_id")
        add_event_arguments(parser)
        reach.add_reach_arguments(parser)

    def handle(self, *args, **options) -> None:
        event, data = event_and_data(options)
        client_id = options["client_id"]
        if reach.uses_layer():
            reach.require_live_servers()
            delivered = send_to_client(client_id, event, data)
        else:
            answer = reach.call_api(
                options, "POST", f"/clients/{quote(client_id, safe='')}/send", {"event": event, "data": data}, "ws_send"
            )
            delivered = answer["data"]["delivered"]
        if not delivered:
            raise CommandError(f"client {client_id} is not connected")
        self.stderr.write("sent")
