from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand

from realtime.api import aget_client_details
from realtime.management import reach


class Command(BaseCommand):
    help = (
        "List the connected, authenticated clients, one a line: id, user, and 'bridge' for a game "
        "server's bridge ('user' otherwise). --ids: the ids only."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--ids", action="store_true", help="print only the client ids")
        reach.add_reach_arguments(parser)

    def handle(self, *args, **options) -> None:
        if reach.uses_layer():
            reach.require_live_servers()
            details = async_to_sync(aget_client_details)()
        else:
            details = reach.call_api(options, "GET", "/clients?detail=true", None, "ws_clients")["data"]["details"]
        for client in details:
            if options["ids"]:
                self.stdout.write(client["clientId"])
            else:
                kind = "bridge" if client["bridge"] else "user"
                self.stdout.write(f"{client['clientId']}\t{client['username'] or '-'}\t{kind}")
        if not details:
            self.stderr.write("no client is connected")
