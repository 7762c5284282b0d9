"""The bridge's live copy of the client list and its signing key across two server
processes sharing Redis (real `manage.py serve` processes, the websockets library)."""

from __future__ import annotations

import base64
import json
import secrets
import time

import jwt
import pytest

from tests.helpers import spec_token
from tests.live import expect, open_authed

pytestmark = pytest.mark.live

CREATE_USERS = """
from tests.helpers import make_user
make_user("viewer", ["players.view"])
make_user("bridge", ["gameserver"])
"""


async def pushed_until(ws, predicate, timeout: float = 10) -> list[str]:
    """The first pushed list that satisfies ``predicate`` (earlier pushes skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await expect(ws, "connectedClients", timeout=max(deadline - time.monotonic(), 0.1))
        if predicate(frame["data"]["clients"]):
            return frame["data"]["clients"]


async def test_a_bridge_on_one_process_follows_clients_and_keys_of_another(pg_platform, redis_env):
    platform = pg_platform
    platform.env.update(redis_env, WS_PRESENCE_TTL="3", WS_BRIDGE_MINT_SUBJECTS="viewer",
                        WS_BRIDGE_MINT_PERMISSIONS="players.view")
    platform.shell(CREATE_USERS)
    a, b = platform.start(), platform.start()
    bridge, bridge_id = await open_authed(a.url, spec_token("bridge", ["gameserver"]))
    await bridge.send(json.dumps({"event": "bridgeSync", "requestId": "s"}))
    synced = await expect(bridge, "bridgeSynced")
    key = synced["data"]["signingKey"]
    assert (await expect(bridge, "connectedClients"))["data"]["clients"] == [bridge_id]

    # A client of process B appears in the copy, and leaves it when B is killed (presence
    # expiry: WS_PRESENCE_TTL + a heartbeat).
    viewer, viewer_id = await open_authed(b.url, spec_token("viewer", ["players.view"]))
    assert await pushed_until(bridge, lambda ids: viewer_id in ids) == sorted([bridge_id, viewer_id])
    b.kill()
    assert await pushed_until(bridge, lambda ids: viewer_id not in ids, timeout=10) == [bridge_id]

    # A token the bridge signed with its key (as the resource does) is accepted by another
    # process: keys live in the database, not in a process.
    c = platform.start()
    now = int(time.time())
    secret = base64.urlsafe_b64decode(key["key"] + "=" * (-len(key["key"]) % 4))
    token = jwt.encode({"sub": "viewer", "permissions": ["players.view"], "iat": now, "exp": now + 600,
                        "jti": secrets.token_hex(16), "server": "bridge"}, secret, algorithm="HS256",
                       headers={"kid": key["kid"]})
    other, _ = await open_authed(c.url, token)
    # Rotated from the command line: the bridge on process A gets its new key at once.
    platform.manage("ws_bridge_key", "bridge", "--rotate")
    rotated = await expect(bridge, "signingKey")
    assert rotated["data"]["kid"] not in (None, key["kid"])
    for ws in (bridge, viewer, other):
        await ws.close()
