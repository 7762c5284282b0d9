"""Recovery over real sockets and real server processes: two processes sharing Redis, and
platform restarts with and without Redis (docs/PROTOCOL.md, "Positions and recovery")."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.helpers import spec_part
from tests.live import expect, open_authed, recv, token

pytestmark = pytest.mark.live

CREATE_USERS = """
from tests.helpers import make_user
make_user("viewer", ["players.view"])
make_user("bridge", ["gameserver"])
"""


async def auth_since(url: str, tok: str, since: dict | None) -> tuple[websockets.ClientConnection, dict]:
    """A socket authenticated with ``since``; its ``authenticated`` frame."""
    ws = await websockets.connect(url)
    assert (await recv(ws))["event"] == "connected"
    data = {"token": tok} if since is None else {"token": tok, "since": since}
    await ws.send(json.dumps({"event": "auth", "data": data}))
    reply = await recv(ws)
    assert reply["event"] == "authenticated", reply
    return ws, reply


async def read_until(ws, log: list, event: str = "done", stop_after: int | None = None) -> None:  # noqa: ANN001
    while True:
        frame = await recv(ws, 20)
        log.append(frame)
        if frame["event"] == event or (stop_after is not None and len(log) >= stop_after):
            return


async def produce(bridge, name: str, count: int) -> None:  # noqa: ANN001
    """``count`` broadcasts through the spec's broadcast export, each acknowledged."""
    for i in range(count):
        await bridge.send(json.dumps({"event": "broadcast", "requestId": f"{name}{i}",
                                      "data": {"event": "tick", "data": {"from": name, "i": i}}}))
        await expect(bridge, "ack", 20)


async def broadcast(bridge, event: str, data: dict) -> None:  # noqa: ANN001
    await bridge.send(json.dumps({"event": "broadcast", "requestId": event, "data": {"event": event, "data": data}}))
    await expect(bridge, "ack", 20)


@pytest.mark.xfail(strict=False, reason=(
    "issue 19, open: about 1 run in 4 the recovered log differs from the never-disconnected "
    "one by one broadcast around the reconnect (a duplicate or a skip between the replay and "
    "the live stream on the other process); not found yet"))
async def test_two_processes_with_redis_a_killed_connection_recovers_the_never_disconnected_log(pg_platform, redis_env):
    platform = pg_platform
    platform.env.update(redis_env)
    platform.shell(CREATE_USERS)
    a, b = platform.start(), platform.start(server="uvicorn")
    viewer = token(platform, "viewer", ["players.view"])
    reference, _ = await open_authed(b.url, viewer)
    flaky, _ = await open_authed(a.url, viewer)
    bridge_a, _ = await open_authed(a.url, token(platform, "bridge", ["gameserver"]))
    bridge_b, _ = await open_authed(b.url, token(platform, "bridge", ["gameserver"]))

    count = 150
    expected: list = []
    reading = asyncio.create_task(read_until(reference, expected))
    # Broadcasts from both processes at once: one order, the stream's, on both.
    producers = asyncio.gather(produce(bridge_a, "a", count), produce(bridge_b, "b", count))
    got: list = []
    await read_until(flaky, got, stop_after=count // 3)
    flaky.transport.abort()  # killed, no close handshake: what it had not read is lost
    assert not producers.done(), "the reconnect should happen while broadcasts still flow"
    # Back on the other process, from the last position it saw.
    again, reply = await auth_since(b.url, viewer, got[-1]["position"])
    assert reply["data"]["recovered"] is True
    await producers
    await broadcast(bridge_a, "done", {})
    await read_until(again, got)
    await reading
    assert got == expected
    ticks = [f for f in got if f["event"] == "tick"]
    assert sorted((f["data"]["from"], f["data"]["i"]) for f in ticks) == sorted(
        (name, i) for name in "ab" for i in range(count))
    offsets = [f["position"]["offset"] for f in got]
    assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))
    assert len({f["position"]["epoch"] for f in got}) == 1
    for ws in (reference, again, bridge_a, bridge_b):
        await ws.close()


async def test_a_restart_without_redis_is_a_new_epoch_so_not_recovered(platform):
    platform.shell(CREATE_USERS)
    proc = platform.start()
    viewer = token(platform, "viewer", ["players.view"])
    ws, _ = await open_authed(proc.url, viewer)
    bridge, _ = await open_authed(proc.url, token(platform, "bridge", ["gameserver"]))
    await broadcast(bridge, "tick", {"i": 0})
    since = (await expect(ws, "tick"))["position"]
    await ws.close()
    await bridge.close()

    proc.stop()
    proc.start()  # same port, new process, history was in the old one
    again, reply = await auth_since(proc.url, viewer, since)
    assert reply["data"]["recovered"] is False
    bridge, _ = await open_authed(proc.url, token(platform, "bridge", ["gameserver"]))
    await broadcast(bridge, "tick", {"i": 1})
    frame = await expect(again, "tick")
    assert spec_part(frame) == {"event": "tick", "data": {"i": 1}}
    assert frame["position"]["epoch"] != since["epoch"]
    # Within the new process's history a reconnect is recovered again.
    await again.close()
    third, reply = await auth_since(proc.url, viewer, frame["position"])
    assert reply["data"]["recovered"] is True
    for s in (third, bridge):
        await s.close()


async def test_a_restart_with_redis_recovers_and_a_flushed_history_does_not(pg_platform, redis_env):
    platform = pg_platform
    platform.env.update(redis_env)
    platform.shell(CREATE_USERS)
    a, b = platform.start(), platform.start()
    viewer = token(platform, "viewer", ["players.view"])
    ws, _ = await open_authed(a.url, viewer)
    bridge, _ = await open_authed(b.url, token(platform, "bridge", ["gameserver"]))
    await broadcast(bridge, "tick", {"i": 0})
    since = (await expect(ws, "tick"))["position"]

    a.stop()  # the client's process restarts; the platform goes on without it
    for i in (1, 2):
        await broadcast(bridge, "tick", {"i": i})
    a.start()
    again, reply = await auth_since(a.url, viewer, since)
    assert reply["data"]["recovered"] is True
    missed = [await recv(again), await recv(again)]
    assert [spec_part(f) for f in missed] == [{"event": "tick", "data": {"i": i}} for i in (1, 2)]
    assert [f["position"] for f in missed] == [
        {"epoch": since["epoch"], "offset": since["offset"] + n} for n in (1, 2)]
    await again.close()

    # Redis loses the history (flushed): a new epoch, and the old position is not held.
    import redis

    r = redis.Redis.from_url(redis_env["REDIS_URL"])
    r.delete(f"{redis_env['WS_REDIS_PREFIX']}:ws:history", f"{redis_env['WS_REDIS_PREFIX']}:ws:history:meta")
    listener, _ = await open_authed(a.url, viewer)
    await broadcast(bridge, "tick", {"i": 3})
    fresh = await expect(listener, "tick")
    assert fresh["position"]["epoch"] != since["epoch"] and fresh["position"]["offset"] == 1
    lost, reply = await auth_since(a.url, viewer, missed[-1]["position"])
    assert reply["data"]["recovered"] is False
    for s in (lost, listener, bridge, ws):
        await s.close()
