"""Deliver webhooks from outside a server process (daphne deployments, a worker, a backlog)."""

from __future__ import annotations

import asyncio

from django.core.management.base import BaseCommand

from webhooks.sender import Sender


class Command(BaseCommand):
    help = (
        "Run a webhook sender: claims due deliveries with a lease, like every server process's "
        "sender, so it can run beside them. --until-idle: stop when nothing is due."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--until-idle", action="store_true", help="exit once no delivery is due")

    def handle(self, *args, **options) -> None:
        sender = Sender()

        async def until_idle() -> None:
            try:
                while await sender.run_once():
                    pass
            finally:
                await sender.client.aclose()

        try:
            asyncio.run(until_idle() if options["until_idle"] else sender.run())
        except KeyboardInterrupt:
            pass
        self.stdout.write(f"{sender.sent} deliveries sent")
