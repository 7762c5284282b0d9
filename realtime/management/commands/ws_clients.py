from django.core.management.base import BaseCommand

from realtime.api import get_connected_clients


class Command(BaseCommand):
    help = "List the ids of the connected, authenticated clients (one a line)."

    def handle(self, *args, **options) -> None:
        for client_id in get_connected_clients():
            self.stdout.write(client_id)
