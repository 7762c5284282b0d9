from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
import websockets

from tests.conftest import unavailable
from tests.fivem.resource import Resource, node
from tests.helpers import spec_token
from tests.live import Platform, Server

# The platform's accounts for these tests: the bridge's service account and an admin.
ACCOUNTS = """
from tests.helpers import make_user
make_user("gameserver", ["gameserver"])
make_user("admin", ["admin"])
make_user("viewer", ["players.view"])
"""

# Quick retries: a restarted platform is found again within about a second.
FAST = {"ws_platform_reconnect_min": "0.2", "ws_platform_reconnect_max": "1", "ws_platform_timeout": "5"}


@pytest.fixture(autouse=True)
def _node() -> None:
    if node() is None:
        unavailable("node is not installed; the FiveM resource's tests run it under Node")


@dataclass
class Live:
    """A running platform with the bridge's account, and how to reach it."""

    platform: Platform
    server: Server
    bridge_token: str

    def convars(self, **extra: str) -> dict[str, str]:
        return {"ws_platform_url": self.server.url, "ws_platform_token": self.bridge_token, **FAST, **extra}


@pytest.fixture
def live(platform) -> Live:
    platform.shell(ACCOUNTS)
    # Minted the way the README tells a server owner to (registered, not a hand-made JWT).
    token = platform.manage("ws_token", "gameserver", "--permissions", "gameserver", "--expires", "1h").stdout.strip()
    return Live(platform, platform.start(), token)


@pytest.fixture
async def resources():
    """Start resources with ``await resources(convars)``; each is stopped and checked after."""
    started: list[Resource] = []

    async def start(convars: dict[str, str], **kwargs) -> Resource:
        resource = await Resource(convars, **kwargs).start()
        started.append(resource)
        return resource

    yield start
    for resource in started:
        await resource.stop()
    for resource in started:
        assert not resource.problems(), resource.dump()


class Admin:
    """An admin panel's socket (the websockets library), as the spec's clients speak.

    Frames that arrive while a test waits for another one are kept, so a broadcast that
    overtakes a reply is still there for the next ``expect``.
    """

    def __init__(self, ws, client_id: str) -> None:
        self.ws, self.client_id = ws, client_id
        self.backlog: list[dict] = []
        self.n = 0

    @classmethod
    async def open(cls, url: str, token: str | None = None) -> Admin:
        ws = await websockets.connect(url)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(json.dumps({"event": "auth", "data": {"token": token or spec_token("admin", ["admin"])}}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["event"] == "authenticated", reply
        return cls(ws, hello["data"]["clientId"])

    async def _next(self, match, timeout: float) -> dict:
        for i, frame in enumerate(self.backlog):
            if match(frame):
                return self.backlog.pop(i)
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                if match(frame):
                    return frame
                self.backlog.append(frame)

    async def expect(self, event: str, timeout: float = 10, where=lambda frame: True) -> dict:
        """The first frame named ``event`` (and matching ``where``), received or kept."""
        return await self._next(lambda f: f["event"] == event and where(f), timeout)

    async def request(self, event: str, data: dict | None = None, timeout: float = 10) -> dict:
        """Send a request; its reply or error frame (matched by requestId)."""
        self.n += 1
        request_id = f"admin-{self.n}"
        message = {"event": event, "requestId": request_id}
        if data is not None:
            message["data"] = data
        await self.ws.send(json.dumps(message))
        return await self._next(lambda f: f.get("requestId") == request_id, timeout)

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
async def admins():
    opened: list[Admin] = []

    async def open_admin(url: str, token: str | None = None) -> Admin:
        admin = await Admin.open(url, token)
        opened.append(admin)
        return admin

    yield open_admin
    for admin in opened:
        await admin.close()
