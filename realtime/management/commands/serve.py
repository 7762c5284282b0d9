"""Serve HTTP and the socket on WS_PORT with a production ASGI server."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve the platform (admin + WebSocket) on one port with daphne or uvicorn."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--host", default=os.environ.get("WS_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.WS_PORT)
        parser.add_argument(
            "--server",
            choices=["daphne", "uvicorn"],
            default=os.environ.get("WS_SERVER", "daphne"),
        )

    def handle(self, *args, **options) -> None:
        host, port, server = options["host"], options["port"], options["server"]
        self.stdout.write(f"serving on http://{host}:{port}/ (socket ws://{host}:{port}) with {server}")
        if server == "daphne":
            from daphne.cli import CommandLineInterface

            CommandLineInterface().run(
                ["-b", host, "-p", str(port), "--proxy-headers", "project.asgi:application"]
                if os.environ.get("WS_TRUST_PROXY_HEADERS")
                else ["-b", host, "-p", str(port), "project.asgi:application"]
            )
        elif server == "uvicorn":
            import uvicorn

            uvicorn.run(
                "project.asgi:application",
                host=host,
                port=port,
                lifespan="off",
                ws_max_size=settings.WS_MAX_FRAME_BYTES * 4,
                proxy_headers=bool(os.environ.get("WS_TRUST_PROXY_HEADERS")),
                log_level="warning",
            )
        else:  # pragma: no cover - argparse refuses it first
            raise CommandError(f"unknown server {server}")
