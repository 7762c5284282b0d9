"""The main paths over a real socket: a real `manage.py serve` process, a real client library."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from realtime import protocol
from tests.helpers import spec_part, spec_token
from tests.live import expect, open_authed, recv

pytestmark = pytest.mark.live

CREATE_USERS = """
from tests.helpers import make_user
make_user("viewer", ["players.view", "stats.view"])
make_user("bridge", ["gameserver"])
"""


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_main_paths_over_a_real_socket(platform, server):
    platform.shell(CREATE_USERS)
    proc = platform.start(server=server)

    async with websockets.connect(proc.url) as ws:
        hello = await recv(ws)
        assert hello["event"] == "connected" and hello["data"]["clientId"]
        await ws.send(json.dumps({"event": "auth", "data": {"token": spec_token("viewer", ["stats.view"])}}))
        assert await recv(ws) == {
            "event": "authenticated",
            "data": {"clientId": hello["data"]["clientId"], "permissions": ["stats.view"]},
        }
        await ws.send(json.dumps({"event": "ping", "requestId": "abc"}))
        pong = await recv(ws)
        assert pong["event"] == "pong" and pong["requestId"] == "abc"
        await ws.send("{broken")
        assert (await recv(ws))["data"]["code"] == "invalid_message"

        # A broadcast from the game server's bridge (the `broadcast` export) reaches us.
        bridge, _ = await open_authed(proc.url, spec_token("bridge", ["gameserver"]))
        await bridge.send(json.dumps({"event": "broadcast", "data": {"event": "customEvent", "data": {"n": 1}}, "requestId": "b1"}))
        assert await expect(bridge, "ack") == {"event": "ack", "requestId": "b1"}
        assert spec_part(await recv(ws)) == {"event": "customEvent", "data": {"n": 1}}
        await bridge.close()

    async with websockets.connect(proc.url) as ws:
        await recv(ws)
        await ws.send(json.dumps({"event": "auth", "data": {"token": "forged.token.here"}}))
        assert (await recv(ws))["data"] == {"message": "Invalid token", "code": "invalid_token"}
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
        assert closed.value.rcvd.code == protocol.CLOSE_INVALID_TOKEN


async def test_exports_from_another_process_need_redis_and_cross_processes(pg_platform, redis_env):
    platform = pg_platform
    """Two server processes sharing Redis; the exports used from a third (manage.py)."""
    platform.env.update(redis_env)
    platform.shell(CREATE_USERS)
    a, b = platform.start(), platform.start()
    ws_a, id_a = await open_authed(a.url, spec_token("viewer", ["stats.view"]))
    ws_b, id_b = await open_authed(b.url, spec_token("viewer", ["stats.view"]))

    listed = platform.manage("ws_clients", "--ids").stdout.split()
    assert sorted(listed) == sorted([id_a, id_b])

    platform.manage("ws_broadcast", "serverNotice", '{"text": "hello"}')
    assert spec_part(await recv(ws_a)) == {"event": "serverNotice", "data": {"text": "hello"}}
    assert spec_part(await recv(ws_b)) == {"event": "serverNotice", "data": {"text": "hello"}}

    # sendToClient from process A's bridge to a client of process B.
    bridge, _ = await open_authed(a.url, spec_token("bridge", ["gameserver"]))
    await bridge.send(json.dumps({"event": "sendToClient", "requestId": "s",
                                  "data": {"clientId": id_b, "event": "direct", "data": {"x": 1}}}))
    assert await expect(bridge, "sent") == {"event": "sent", "data": {"delivered": True}, "requestId": "s"}
    assert await recv(ws_b) == {"event": "direct", "data": {"x": 1}}
    await bridge.send(json.dumps({"event": "sendToClient", "requestId": "t",
                                  "data": {"clientId": "no-such-client", "event": "direct"}}))
    assert (await expect(bridge, "sent"))["data"] == {"delivered": False}

    failed = platform.manage("ws_send", "no-such-client", "direct", check=False)
    assert failed.returncode == 1 and "not connected" in failed.stderr
    for ws in (ws_a, ws_b, bridge):
        await ws.close()


async def test_a_killed_process_leaves_the_connected_list(pg_platform, redis_env):
    platform = pg_platform
    platform.env.update(redis_env, WS_PRESENCE_TTL="3")
    platform.shell(CREATE_USERS)
    a, b = platform.start(WS_PRESENCE_TTL="3"), platform.start(WS_PRESENCE_TTL="3")
    ws_a, id_a = await open_authed(a.url, spec_token("viewer", ["stats.view"]))
    ws_b, id_b = await open_authed(b.url, spec_token("viewer", ["stats.view"]))
    assert sorted(platform.manage("ws_clients", "--ids").stdout.split()) == sorted([id_a, id_b])

    a.kill()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3 * 3 + 5  # TTL, plus one heartbeat period and process start-up
    while platform.manage("ws_clients", "--ids").stdout.split() != [id_b]:
        assert loop.time() < deadline, "killed process's client still listed"
    # B keeps serving.
    await ws_b.send(json.dumps({"event": "ping", "requestId": 1}))
    assert (await recv(ws_b))["event"] == "pong"
    await ws_b.close()


@pytest.mark.postgres
async def test_on_postgresql(pg_platform):
    pg_platform.shell(CREATE_USERS)
    proc = pg_platform.start()
    ws, client_id = await open_authed(proc.url, pg_platform.manage(
        "ws_token", "viewer", "--permissions", "stats.view", "--expires", "5m").stdout.strip())
    await ws.send(json.dumps({"event": "ping", "requestId": "pg"}))
    assert (await recv(ws))["requestId"] == "pg"
    await ws.close()
