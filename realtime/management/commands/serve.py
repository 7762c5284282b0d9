"""Serve HTTP and the socket on WS_PORT with a production ASGI server."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime.servers import SERVERS, tls_files


class Command(BaseCommand):
    help = (
        "Serve the platform (admin + WebSocket) on one port with daphne or uvicorn; "
        "with TLS when WS_TLS_CERT and WS_TLS_KEY are set."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--host", default=os.environ.get("WS_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.WS_PORT)
        parser.add_argument(
            "--server",
            choices=sorted(SERVERS),
            default=os.environ.get("WS_SERVER", "daphne"),
        )

    def handle(self, *args, **options) -> None:
        host, port, server = options["host"], options["port"], options["server"]
        if server not in SERVERS:  # pragma: no cover - argparse refuses it first
            raise CommandError(f"unknown server {server}")
        secure = tls_files() is not None
        http, ws = ("https", "wss") if secure else ("http", "ws")
        self.stdout.write(f"serving on {http}://{host}:{port}/ (socket {ws}://{host}:{port}) with {server}")
        SERVERS[server](host, port)
