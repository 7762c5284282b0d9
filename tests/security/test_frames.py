"""What a frame may contain (#4, #20): request ids, NUL, lone surrogates, NaN/Infinity.

Each is refused in one place (realtime.protocol.parse / check_envelope) with a clear
``invalid_message`` error that never echoes the bad value, and the socket survives.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from realtime import protocol
from tests.helpers import Client, amake_user, authed_client, spec_token
from tests.security.rawws import RawSocket

pytestmark = pytest.mark.django_db(transaction=True)

LONE_SURROGATE_PING = '{"event":"ping","requestId":"\\ud800"}'


async def invalid(client: Client, text: str) -> dict:
    await client.send(text)
    frame = await client.recv()
    assert frame["event"] == "error" and frame["data"]["code"] == "invalid_message", frame
    # Only a valid id ("r" below) is echoed; an invalid one never is.
    assert frame.get("requestId", "r") == "r", frame
    return frame


async def test_a_lone_surrogate_request_id_is_refused_and_not_echoed_before_auth():
    client = Client()
    await client.open()
    await invalid(client, LONE_SURROGATE_PING)
    # The socket is still served.
    reply = await client.request("ping", request_id="after")
    assert reply["data"]["code"] == "not_authenticated" and reply["requestId"] == "after"
    await client.close()


@pytest.mark.parametrize(
    "text",
    [
        '{"event":"ping","requestId":"' + "x" * 129 + '"}',
        '{"event":"ping","requestId":NaN}',
        '{"event":"ping","requestId":Infinity}',
        '{"event":"ping","requestId":-Infinity}',
        '{"event":"ping","requestId":true}',
        '{"event":"ping","requestId":"a\\u0000b"}',
        '{"event":"ping","data":{"x":NaN},"requestId":"r"}',
        '{"event":"ping","data":{"k\\udfff":1},"requestId":"r"}',
        '{"event":"ping","data":["ok","\\u0000"],"requestId":"r"}',
        '{"event":"p\\ud83dng","requestId":"r"}',
    ],
)
async def test_bad_request_ids_nul_surrogates_and_nan_are_refused_without_echo(text):
    client = Client()
    await client.open()
    frame = await invalid(client, text)
    json.loads(json.dumps(frame), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert (await client.request("ping", request_id=1))["requestId"] == 1
    await client.close()


async def test_valid_request_ids_are_still_echoed():
    client = Client()
    await client.open()
    for rid in ["x" * 128, 7, 2.5, "é😀", "\\u00e9"]:
        reply = await client.request("ping", request_id=rid)
        assert reply["requestId"] == rid
    # A proper surrogate pair (an escaped emoji) is fine.
    await client.send('{"event":"ping","requestId":"\\ud83d\\ude00"}')
    assert (await client.recv())["requestId"] == "\U0001f600"
    await client.close()


async def test_the_bridge_cannot_report_a_lone_surrogate_identifier():
    await amake_user("bridge", ["gameserver"])
    client = await authed_client(spec_token("bridge", ["gameserver"]))
    await client.send(
        '{"event":"playerJoined","data":{"id":1,"name":"x","identifiers":["license:\\ud800"]},'
        '"requestId":"r"}'
    )
    frame = await client.recv()
    assert frame["event"] == "error" and frame["data"]["code"] == "invalid_message"
    await client.close()


# -- over real server processes ----------------------------------------------------------


def _surrogate_pings(port: int, count: int) -> list[RawSocket]:
    sockets = []
    for _ in range(count):
        raw = RawSocket(port)
        assert raw.status == 101
        assert raw.recv_json()["event"] == "connected"
        raw.send_text(LONE_SURROGATE_PING)
        error = raw.recv_json()
        assert error["event"] == "error" and error["data"]["code"] == "invalid_message"
        assert "requestId" not in error
        sockets.append(raw)
    return sockets


@pytest.mark.live
@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_64_surrogate_pings_no_longer_fill_the_address_cap(users, server):
    proc = users.start(server, WS_AUTH_TIMEOUT="2", WS_MAX_SOCKETS_PER_ADDRESS="64")
    sockets = await asyncio.to_thread(_surrogate_pings, proc.port, 64)

    def timed_out(raw: RawSocket) -> str:
        error = raw.recv_json()
        assert error["data"]["code"] == "not_authenticated", error
        return raw.drain_until_closed(10)

    # Every one of them is still a live socket, and the auth timeout closes each.
    ends = await asyncio.gather(*(asyncio.to_thread(timed_out, raw) for raw in sockets))
    assert ends == [f"close {protocol.CLOSE_AUTH_TIMEOUT}"] * 64
    for raw in sockets:
        raw.close()
    # The address is free again (once the server has seen the closes).
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        fresh = await asyncio.to_thread(RawSocket, proc.port)
        fresh.close()
        if fresh.status == 101 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)  # polling for the condition, bounded by the deadline
    assert fresh.status == 101


# -- reserved event names (#13) ----------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["tokenExpiring", "tokenExpired", "permissionsChanged", "error", "authenticated",
             "playerBanned", "announcement", "players"],
)
@pytest.mark.parametrize("export", ["broadcast", "sendToClient"])
async def test_the_exports_refuse_the_platforms_own_event_names(name, export):
    await amake_user("bridge", ["gameserver"])
    await amake_user("viewer", ["stats.view"])
    bridge = await authed_client(spec_token("bridge", ["gameserver"]))
    viewer = await authed_client(spec_token("viewer", ["stats.view"]))
    data = {"event": name, "data": {"x": 1}}
    if export == "sendToClient":
        data["clientId"] = viewer.client_id
    reply = await bridge.request(export, data, request_id="r")
    assert reply["event"] == "error" and reply["data"]["code"] == "invalid_payload", reply
    assert "platform's own events" in reply["data"]["message"]
    assert await viewer.nothing()
    # A custom event still goes through.
    data["event"] = "myResourceEvent"
    await bridge.send({"event": export, "data": data, "requestId": "ok"})
    assert (await bridge.expect("ack" if export == "broadcast" else "sent"))["requestId"] == "ok"
    assert (await viewer.expect("myResourceEvent"))["data"] == {"x": 1}
    await bridge.close()
    await viewer.close()


def test_ws_broadcast_refuses_reserved_names():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="platform's own events"):
        call_command("ws_broadcast", "tokenExpired", "{}")
