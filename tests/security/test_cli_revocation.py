"""Issue 13 #7: revocation and deactivation from another process (``manage.py ws_revoke``,
``manage.py shell``) reach a real ``serve`` process within a second on the default set-up:
SQLite, no Redis (in-memory channel layer, per-process cache). The server hears of them
through the ``accounts.AccessChange`` feed its hub polls."""

from __future__ import annotations

import asyncio
import json

import pytest

from realtime import protocol
from tests.live import close_code, open_authed, recv

pytestmark = [pytest.mark.live]

SETUP = """
from tests.helpers import make_user
from realtime.api import generate_token
from accounts.models import IssuedToken
make_user("viewer", ["stats.view"])
for label in ("doomed", "kept"):
    token = generate_token("viewer", ["stats.view"], "1h", label=label)
    print("TOKEN", label, token, IssuedToken.objects.get(label=label).jti)
"""


@pytest.fixture
def single(platform):
    """One server process, no Redis, and two tokens of one user minted in another process."""
    minted = {}
    for line in platform.shell(SETUP).splitlines():
        if line.startswith("TOKEN "):
            _, label, token, jti = line.split()
            minted[label] = (token, jti)
    server = platform.start()
    return platform, server, minted


async def refused(url: str, token: str) -> dict:
    """The answer to an auth with this token on a fresh socket (expected: refused)."""
    import websockets

    async with websockets.connect(url) as ws:
        await recv(ws)  # hello
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        return await recv(ws)


async def ping(ws, request_id: str) -> None:  # noqa: ANN001
    await ws.send(json.dumps({"event": "ping", "requestId": request_id}))
    while (frame := await recv(ws)).get("event") != "pong":
        pass
    assert frame["requestId"] == request_id


async def test_ws_revoke_in_another_process_closes_the_socket_within_a_second(single):
    platform, server, minted = single
    doomed, jti = minted["doomed"]
    ws, _ = await open_authed(server.url, doomed)
    kept, _ = await open_authed(server.url, minted["kept"][0])
    # The server has cached this token's state: the revocation must reach past it.
    again, _ = await open_authed(server.url, doomed)
    await again.close()

    done = await asyncio.to_thread(platform.manage, "ws_revoke", jti)
    assert "revoked 1 token(s)" in done.stdout

    assert await close_code(ws, timeout=1.5) == protocol.CLOSE_ACCESS_REVOKED
    reply = await refused(server.url, doomed)
    assert reply["event"] == "error", reply
    await ping(kept, "still-here")
    await kept.close()


async def test_deactivation_in_manage_shell_closes_the_socket_within_a_second(single):
    platform, server, minted = single
    token = minted["kept"][0]
    ws, _ = await open_authed(server.url, token)
    again, _ = await open_authed(server.url, token)
    await again.close()

    await asyncio.to_thread(platform.shell, (
        "from django.contrib.auth.models import User\n"
        "u = User.objects.get(username='viewer'); u.is_active = False; u.save()"
    ))

    assert await close_code(ws, timeout=1.5) == protocol.CLOSE_ACCESS_REVOKED
    reply = await refused(server.url, token)
    assert reply["event"] == "error", reply
