from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import unavailable
from tests.fivem.resource import ACCOUNTS, Admin, Resource, node
from tests.helpers import spec_token
from tests.live import Platform, Server

MINT = """
from realtime.api import generate_token
print(generate_token("gameserver", ["gameserver"], "1h", label="cli"))
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
    # The bridge's token is minted as `manage.py ws_token` does (registered, not a
    # hand-made JWT), in the same process that creates the accounts: one Django start-up.
    token = platform.shell(ACCOUNTS + MINT).strip().splitlines()[-1]
    # What the owner lets the bridge mint (docs/SECURITY.md, "Who can mint what").
    platform.env.update(WS_BRIDGE_MINT_SUBJECTS="viewer", WS_BRIDGE_MINT_PERMISSIONS="players.view,players.kick")
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


@pytest.fixture
async def admins():
    opened: list[Admin] = []

    async def open_admin(url: str, token: str | None = None) -> Admin:
        admin = await Admin.open(url, token or spec_token("admin", ["admin"]))
        opened.append(admin)
        return admin

    yield open_admin
    for admin in opened:
        await admin.close()
