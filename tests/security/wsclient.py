"""A real WebSocket client (the `websockets` package) speaking the envelope, for live tests."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from typing import Any

import websockets


class LiveClient:
    """One connection to a server process; frames not awaited yet wait in ``inbox``."""

    def __init__(self, ws: Any, hello: dict) -> None:
        self.ws = ws
        self.client_id = hello["data"]["clientId"]

    @classmethod
    async def open(cls, url: str, *, origin: str | None = None,
                   ssl_context: ssl.SSLContext | None = None) -> LiveClient:
        ws = await websockets.connect(url, origin=origin, ssl=ssl_context, max_size=None,
                                      open_timeout=10)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello["event"] == "connected", hello
        return cls(ws, hello)

    async def send(self, message: dict | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def recv(self, timeout: float = 5) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def reply_to(self, request_id: Any, timeout: float = 5) -> dict:
        """The next frame carrying ``request_id``, skipping broadcasts."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(deadline - time.monotonic(), 0.01))
            if frame.get("requestId") == request_id:
                return frame

    async def request(self, event: str, data: Any = None, request_id: Any = "r",
                      timeout: float = 5) -> dict:
        message: dict = {"event": event, "requestId": request_id}
        if data is not None:
            message["data"] = data
        await self.send(message)
        return await self.reply_to(request_id, timeout)

    async def auth(self, token: str) -> dict:
        return await self.request("auth", {"token": token}, request_id="auth")

    async def closed_code(self, timeout: float = 5) -> int | None:
        """Read until the server closes; its close code."""
        try:
            async with asyncio.timeout(timeout):
                async for _ in self.ws:
                    pass
        except websockets.ConnectionClosed:
            pass
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()


async def authed(url: str, token: str, **kwargs: Any) -> LiveClient:
    client = await LiveClient.open(url, **kwargs)
    reply = await client.auth(token)
    assert reply["event"] == "authenticated", reply
    return client
