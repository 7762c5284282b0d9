"""Helpers shared by the test suites: users with grants, tokens, socket clients."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from project.asgi import application


def make_user(username: str, grants: list[str] = (), *, superuser: bool = False, **extra: Any):
    """An active user holding ``grants`` (socket permission names)."""
    User = get_user_model()
    if superuser:
        user = User.objects.create_superuser(username, "", "pw-" + username, **extra)
    else:
        user = User.objects.create_user(username, "", "pw-" + username, **extra)
    if grants:
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="accounts", codename__in=grants)
        )
    return user


def make_staff(username: str, grants: list[str] = (), **extra: Any):
    """A staff user (``is_staff``: the web admin is for staff) holding ``grants``."""
    return make_user(username, grants, is_staff=True, **extra)


def spec_token(sub: str, permissions: list[str], *, lifetime: int = 3600, secret: str | None = None,
               algorithm: str = "HS256", **claims: Any) -> str:
    """A token exactly as the spec's readers mint it with any JWT library (no jti)."""
    now = int(time.time())
    payload = {"sub": sub, "permissions": permissions, "iat": now, "exp": now + lifetime, **claims}
    return jwt.encode(payload, secret or settings.WS_JWT_SECRET, algorithm=algorithm)


class Client:
    """A WebsocketCommunicator speaking the envelope, against the real ASGI application."""

    def __init__(self, path: str = "/", headers: list | None = None,
                 client: tuple[str, int] | None = None) -> None:
        self.comm = WebsocketCommunicator(application, path, headers=headers or [])
        if client is not None:  # the peer address (the communicator sets none)
            self.comm.scope["client"] = client
        self.client_id: str | None = None

    async def open(self) -> dict:
        connected, _ = await self.comm.connect()
        assert connected, "handshake refused"
        hello = await self.recv()
        assert hello["event"] == "connected"
        self.client_id = hello["data"]["clientId"]
        return hello

    async def send(self, message: Any) -> None:
        await self.comm.send_to(text_data=message if isinstance(message, str) else json.dumps(message))

    async def recv(self, timeout: float = 3) -> dict:
        return json.loads(await self.comm.receive_from(timeout))

    async def request(self, event: str, data: Any = None, request_id: Any = None, timeout: float = 3) -> dict:
        message: dict = {"event": event}
        if data is not None:
            message["data"] = data
        if request_id is not None:
            message["requestId"] = request_id
        await self.send(message)
        return await self.recv(timeout)

    async def expect(self, event: str, timeout: float = 3) -> dict:
        """The next frame named ``event``, skipping broadcasts of other names."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} frame within {timeout}s")
            frame = await self.recv(remaining)
            if frame["event"] == event:
                return frame

    async def auth(self, token: str) -> dict:
        return await self.request("auth", {"token": token})

    async def expect_close(self, timeout: float = 3) -> int | None:
        """Skip frames until the server closes; the close code."""
        deadline = time.monotonic() + timeout
        while True:
            output = await self.comm.receive_output(max(deadline - time.monotonic(), 0.01))
            if output["type"] == "websocket.close":
                return output.get("code")

    async def nothing(self, timeout: float = 0.2) -> bool:
        return await self.comm.receive_nothing(timeout)

    async def close(self) -> None:
        await self.comm.disconnect()


async def authed_client(token: str) -> Client:
    client = Client()
    await client.open()
    reply = await client.auth(token)
    assert reply["event"] == "authenticated", reply
    return client



async def amake_user(*args: Any, **kwargs: Any):
    from channels.db import database_sync_to_async

    return await database_sync_to_async(make_user)(*args, **kwargs)


def spec_part(frame: dict) -> dict:
    """``frame`` without the platform's ``position`` (realtime/history.py): what a client
    written against the spec reads, for tests that compare whole frames."""
    return {key: value for key, value in frame.items() if key != "position"}
