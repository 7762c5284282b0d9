"""Starting each server process's webhook sender with the ASGI application.

uvicorn (the default server) runs the ASGI lifespan protocol: the sender starts with the
process and stops with it. daphne has no lifespan: the sender starts with the process's
first connection (HTTP or socket) instead.
"""

from __future__ import annotations

from typing import Any

from webhooks import sender


class WithSender:
    """ASGI middleware: answers the lifespan protocol and starts the sender."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    sender.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await sender.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        sender.start()
        await self.app(scope, receive, send)
