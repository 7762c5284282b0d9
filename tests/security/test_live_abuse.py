"""Abuse against real server processes (daphne and uvicorn) with real clients."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from realtime import protocol
from tests.security.scenarios import bridge_token, stalled_reader_scenario, viewer_token
from tests.security.wsclient import LiveClient, authed

pytestmark = pytest.mark.live

SERVERS = ["daphne", "uvicorn"]


async def refused_status(url: str, **kwargs) -> int | None:
    """The HTTP status a handshake is refused with, or None when it is accepted."""
    try:
        ws = await websockets.connect(url, open_timeout=10, **kwargs)
    except websockets.InvalidStatus as exc:
        return exc.response.status_code
    await ws.close()
    return None


@pytest.mark.parametrize("server", SERVERS)
async def test_browsers_from_other_origins_are_refused_at_the_handshake(users, server):
    proc = users.start(server)
    assert await refused_status(proc.url, origin="http://evil.example") == 403
    assert await refused_status(proc.url, origin="null") == 403
    assert await refused_status(proc.url, origin=f"http://localhost:{proc.port}") is None
    assert await refused_status(proc.url) is None  # no Origin: a bot or a game server
    strict = users.start(server, WS_REQUIRE_ORIGIN="true", WS_ALLOWED_ORIGINS="https://admin.example")
    assert await refused_status(strict.url) == 403
    # WS_ALLOWED_ORIGINS adds to the platform's own origins (its web admin), never replaces them.
    assert await refused_status(strict.url, origin=f"http://localhost:{strict.port}") is None
    assert await refused_status(strict.url, origin="https://admin.example") is None
    assert await refused_status(strict.url, origin="https://other.example") == 403


@pytest.mark.parametrize("server", SERVERS)
async def test_frames_over_the_transport_limit_close_the_socket(users, server):
    proc = users.start(server, WS_MAX_FRAME_BYTES="1024")
    client = await authed(proc.url, viewer_token())
    reply = await client.request("ping", {"pad": "x" * 2000}, request_id="big")
    assert reply["data"]["code"] == "frame_too_large" and reply["requestId"] == "big"
    assert (await client.request("ping", request_id="after"))["event"] == "pong"
    # Past 4 x WS_MAX_FRAME_BYTES the server itself refuses the message (1009).
    await client.send({"event": "ping", "data": {"pad": "x" * 5000}})
    assert await client.closed_code() == 1009


async def test_a_flooding_client_is_throttled_then_closed_while_others_are_answered(users):
    proc = users.start("daphne")
    flooder = await authed(proc.url, viewer_token())
    other = await authed(proc.url, viewer_token())
    frames: list[dict] = []

    async def flood() -> None:
        # 1,000 requests a second, for at most 5 s (bounded even if never closed).
        try:
            for tick in range(500):
                for i in range(10):
                    await flooder.send({"event": "ping", "requestId": f"f{tick}-{i}"})
                await asyncio.sleep(0.01)
        except websockets.ConnectionClosed:
            pass

    async def read_flooder() -> int | None:
        try:
            async for text in flooder.ws:
                frames.append(json.loads(text))
        except websockets.ConnectionClosed:
            pass
        return flooder.ws.close_code

    async def meanwhile() -> int:
        answered = 0
        for i in range(50):  # a request every 20 ms while the flood runs
            reply = await other.request("ping", request_id=f"o{i}", timeout=2)
            assert reply["event"] == "pong"
            answered += 1
            await asyncio.sleep(0.02)
        return answered

    flooding = asyncio.create_task(flood())
    code, answered = await asyncio.gather(read_flooder(), meanwhile())
    flooding.cancel()
    assert code == protocol.CLOSE_RATE_LIMITED
    errors = [f for f in frames if f["event"] == "error"]
    assert len(errors) == 1
    assert errors[0]["data"]["code"] == "rate_limited" and errors[0]["requestId"].startswith("f")
    # The burst (WS_RATE_READ: 60) and what refilled before the close were answered, out
    # of the thousands sent.
    assert 60 <= sum(f["event"] == "pong" for f in frames) < 200
    assert answered == 50
    assert "closed for flooding" in proc.log()
    await other.close()


async def test_sockets_that_never_authenticate_are_closed_by_the_auth_timeout(users):
    proc = users.start("daphne", WS_AUTH_TIMEOUT="2", WS_MAX_SOCKETS_PER_ADDRESS="200")
    idle = await asyncio.gather(*(LiveClient.open(proc.url) for _ in range(200)))
    # The address is at its cap: one more is refused at the handshake ...
    assert await refused_status(proc.url) == 403
    codes = await asyncio.gather(*(wait_auth_timeout(c) for c in idle))
    assert codes == [protocol.CLOSE_AUTH_TIMEOUT] * 200
    # ... and once they are gone, sockets are accepted and served again.
    client = await authed(proc.url, viewer_token())
    assert (await client.request("ping"))["event"] == "pong"
    await client.close()


async def wait_auth_timeout(client: LiveClient) -> int | None:
    error = await client.recv(timeout=10)
    assert error["data"] == {"message": "Authentication timed out", "code": "not_authenticated"}
    return await client.closed_code(timeout=10)


@pytest.mark.parametrize("server", SERVERS)
async def test_a_client_that_stops_reading_is_cut_off_while_broadcasts_reach_the_others(
    users, server
):
    proc = users.start(server, WS_MAX_OUTBOUND_BYTES="262144")
    await stalled_reader_scenario(proc, proc.url)


def http_command(base: str, token: str) -> int:
    """POST /api/v1/clients/nobody/send (a command): its HTTP status."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{base}/api/v1/clients/nobody/send", data=json.dumps({"event": "x"}).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.live
@pytest.mark.redis
async def test_a_users_commands_are_limited_across_every_process_with_redis(users, redis_env):
    """Issue 13 #9: with Redis the per-user command bucket is one for the user on every
    process (GCRA on Redis's clock), not one per process: two processes, one user, the
    user's commands on both, over sockets and the HTTP API, together stay within
    WS_RATE_COMMAND_PER_USER."""
    users.env.update(redis_env)
    env = {"WS_RATE_COMMAND": "100/1s", "WS_RATE_COMMAND_PER_USER": "3/60s", "WS_RATE_EXEMPT": ""}
    first, second = users.start(**env), users.start(**env)
    a, b = await authed(first.url, bridge_token()), await authed(second.url, bridge_token())
    answers = []
    # Alternating sockets on two processes, and the HTTP API on the second; each socket's
    # first refusal is answered (later ones of the same throttled period are dropped
    # unanswered, so stop there).
    for client, request_id in ((a, "a0"), (b, "b0")):
        answers.append(await client.request(
            "sendToClient", {"clientId": "nobody", "event": "x"}, request_id=request_id))
    over_http = await asyncio.to_thread(http_command, second.http, bridge_token())
    assert over_http == 200
    for client, request_id in ((b, "b1"), (a, "a1")):
        answers.append(await client.request(
            "sendToClient", {"clientId": "nobody", "event": "x"}, request_id=request_id))
    assert await asyncio.to_thread(http_command, first.http, bridge_token()) == 429
    accepted = [f["requestId"] for f in answers if f["event"] != "error"]
    refused = [f for f in answers if f["event"] == "error"]
    assert accepted == ["a0", "b0"], answers
    assert {f["data"]["code"] for f in refused} == {"rate_limited"}
    # One command comes back every 60/3 s: the wait is the time to the next one.
    assert all(15 <= f["data"]["retryAfter"] <= 20 for f in refused), refused
    # Another user's bucket is their own.
    viewer = await authed(second.url, viewer_token())
    assert (await viewer.request("ping", request_id="p"))["event"] == "pong"
    for client in (a, b, viewer):
        await client.close()
