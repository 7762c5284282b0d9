"""Rate limits, socket caps, the idle timeout and slow consumers, through the ASGI app."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from realtime import consumer as consumer_module
from realtime import limits, protocol
from realtime.hub import get_hub
from realtime.limits import Rate
from tests.helpers import Client, amake_user, authed_client, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


class FakeClock:
    """Stands in for realtime.limits.clock: time moves only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(limits, "clock", fake)
    return fake


@pytest.fixture
async def viewer(db):
    return await amake_user("viewer", ["players.view", "stats.view"])


@pytest.fixture
async def bridge(db):
    return await amake_user("bridge", ["gameserver"])


async def pings(client: Client, count: int, prefix: str = "p") -> None:
    for i in range(count):
        await client.send({"event": "ping", "requestId": f"{prefix}{i}"})


async def frames_until_quiet(client: Client, quiet: float = 0.3) -> list[dict]:
    """Every frame the server sends until it has been silent for ``quiet`` seconds.

    Sorted by requestId: requests run concurrently, refusals are answered at once.
    """
    frames = []
    while not await client.nothing(quiet):
        frames.append(await client.recv())
    return sorted(frames, key=lambda f: str(f.get("requestId")))


def test_rates_parse():
    assert Rate.parse("5/1s") == Rate(5, 1.0)
    assert Rate.parse("3/5s") == Rate(3, 5.0)
    assert Rate.parse("100/1m") == Rate(100, 60.0)
    assert Rate.parse("10/500ms") == Rate(10, 0.5)
    assert Rate.parse("7/s") == Rate(7, 1.0)
    assert Rate.parse("0").unlimited
    for bad in ("five", "5", "5/0s", "-1/1s", "5/1y"):
        with pytest.raises(ImproperlyConfigured):
            Rate.parse(bad)


def test_a_bad_rate_setting_fails_the_system_check():
    with override_settings(WS_RATE_READ="lots"):
        errors = limits.check_rates(None)
    assert [e.id for e in errors] == ["realtime.E001"]
    assert "WS_RATE_READ" in errors[0].msg
    assert limits.check_rates(None) == []


@override_settings(WS_RATE_READ="5/1s", WS_RATE_FLOOD="0")
async def test_one_rate_limited_error_per_throttled_period(viewer, clock):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    await pings(client, 8)
    frames = await frames_until_quiet(client)
    assert [f["event"] for f in frames] == ["pong"] * 5 + ["error"]
    error = frames[-1]
    assert error["requestId"] == "p5"
    assert error["data"]["code"] == "rate_limited"
    assert error["data"]["retryAfter"] == pytest.approx(0.2, abs=0.01)

    # Half a token later: still throttled, still the same period: no second error.
    clock.now += 0.1
    await pings(client, 2, prefix="q")
    assert await client.nothing(0.3)

    # A token later a request is answered; refusals within a window of the last one
    # stay in the same period.
    clock.now += 0.2
    await pings(client, 2, prefix="r")
    assert [(f["event"], f["requestId"]) for f in await frames_until_quiet(client)] == [
        ("pong", "r0")
    ]

    # A window after the last refusal a new period starts, with its own error.
    clock.now += 1.0
    await pings(client, 7, prefix="s")
    frames = await frames_until_quiet(client)
    assert [f["event"] for f in frames] == ["pong"] * 5 + ["error"]
    assert frames[-1]["requestId"] == "s5"
    await client.close()


@override_settings(WS_RATE_READ="5/1s", WS_RATE_FLOOD="10/10s")
async def test_persistent_flooding_closes_the_socket(viewer, clock):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    await pings(client, 40)
    events = []
    while True:
        output = await client.comm.receive_output(3)
        if output["type"] == "websocket.close":
            break
        events.append(json.loads(output["text"])["event"])
    # Answers still running when the socket closes are dropped with it.
    assert events.count("error") == 1 and set(events) <= {"error", "pong"}
    assert events.count("pong") <= 5
    assert output["code"] == protocol.CLOSE_RATE_LIMITED


@override_settings(WS_RATE_READ="5/1s")
async def test_invalid_frames_count_against_the_read_rate(viewer, clock):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    for i in range(8):
        await client.send("{not json")
    frames = await frames_until_quiet(client)
    assert sorted(f["data"]["code"] for f in frames) == ["invalid_message"] * 5 + ["rate_limited"]
    await client.close()


@override_settings(WS_RATE_COMMAND="1/1s", WS_RATE_EXEMPT=[])
async def test_classes_have_their_own_buckets(bridge, clock):
    client = await authed_client(spec_token("bridge", ["gameserver"]))
    first = await client.request("getConnectedClients", request_id="c1")
    assert first["event"] == "clients"
    for i in range(2):
        await client.send({"event": "broadcast", "data": {"event": "x"}, "requestId": f"b{i}"})
    frames = await frames_until_quiet(client)
    # The first broadcast reaches the bridge itself too (it is an authenticated client).
    assert {(f["event"], f.get("requestId")) for f in frames} == {
        ("x", None), ("ack", "b0"), ("error", "b1")
    }
    # Reads still pass while commands are throttled.
    assert (await client.request("ping", request_id="p"))["event"] == "pong"
    await client.close()


@override_settings(WS_RATE_COMMAND="1/1s")
async def test_the_game_server_bridge_is_exempt_by_default(bridge, clock):
    client = await authed_client(spec_token("bridge", ["gameserver"]))
    for i in range(5):
        reply = await client.request("sendToClient", {"clientId": "nobody", "event": "x"}, f"s{i}")
        assert reply == {"event": "sent", "data": {"delivered": False}, "requestId": f"s{i}"}
    await client.close()


@override_settings(WS_RATE_AUTH="3/5s")
async def test_auth_is_limited_without_closing(viewer, clock):
    client = Client()
    await client.open()
    token = spec_token("viewer", ["stats.view"])
    for i in range(3):
        assert (await client.request("auth", {"token": token}, f"a{i}"))["event"] == "authenticated"
    refused = await client.request("auth", {"token": token}, "a3")
    assert refused["data"]["code"] == "rate_limited" and refused["requestId"] == "a3"
    assert refused["data"]["retryAfter"] == pytest.approx(5 / 3, abs=0.01)
    assert (await client.request("ping", request_id="p"))["event"] == "pong"
    await client.close()


async def refused_at_handshake(client: Client) -> bool:
    connected, _ = await client.comm.connect()
    return not connected


@override_settings(WS_MAX_SOCKETS_PER_ADDRESS=2)
async def test_unauthenticated_sockets_are_capped_per_address(viewer):
    a1, a2 = Client(client=("10.0.0.1", 1)), Client(client=("10.0.0.1", 2))
    await a1.open()
    await a2.open()
    assert await refused_at_handshake(Client(client=("10.0.0.1", 3)))
    other = Client(client=("10.0.0.2", 1))
    await other.open()
    # An authenticated socket no longer counts against its address ...
    assert (await a1.auth(spec_token("viewer", ["stats.view"])))["event"] == "authenticated"
    a3 = Client(client=("10.0.0.1", 4))
    await a3.open()
    # ... and a closed one frees its place.
    await a2.close()
    await wait_for(lambda: get_hub().counts.counters["address"]["10.0.0.1"] == 1)
    a4 = Client(client=("10.0.0.1", 5))
    await a4.open()
    for c in (a1, a3, a4, other):
        await c.close()


@override_settings(WS_MAX_SOCKETS_PER_USER=2)
async def test_authenticated_sockets_are_capped_per_user(viewer):
    token = spec_token("viewer", ["stats.view"])
    first, second = await authed_client(token), await authed_client(token)
    third = Client()
    await third.open()
    reply = await third.request("auth", {"token": token}, "t")
    assert reply == {
        "event": "error",
        "data": {"message": "Too many sockets open for viewer (limit 2)", "code": "too_many_sockets"},
        "requestId": "t",
    }
    assert await third.expect_close() == protocol.CLOSE_TOO_MANY_SOCKETS
    await first.close()
    await wait_for(lambda: sum(get_hub().counts.counters["user"].values()) == 1)
    again = await authed_client(token)
    await second.close()
    await again.close()


@override_settings(WS_MAX_SOCKETS_PER_ADDRESS=1)
async def test_forwarded_for_is_ignored_unless_trusted(viewer):
    forwarded = lambda ip: [(b"x-forwarded-for", ip.encode())]  # noqa: E731
    first = Client(headers=forwarded("1.1.1.1"), client=("127.0.0.1", 1))
    await first.open()
    assert await refused_at_handshake(Client(headers=forwarded("2.2.2.2"), client=("127.0.0.1", 2)))
    with override_settings(WS_TRUST_PROXY_HEADERS=True):
        second = Client(headers=forwarded("2.2.2.2"), client=("127.0.0.1", 3))
        await second.open()
        # A peer that is not a trusted proxy cannot pick its address with the header.
        assert await refused_at_handshake(
            Client(headers=forwarded("3.3.3.3"), client=("2.2.2.2", 4))
        )
    await first.close()
    await second.close()


@override_settings(WS_IDLE_TIMEOUT=0.3)
async def test_silent_authenticated_sockets_are_closed_after_the_idle_timeout(viewer):
    silent = await authed_client(spec_token("viewer", ["stats.view"]))
    chatty = await authed_client(spec_token("viewer", ["stats.view"]))
    for i in range(6):  # 0.6 s of a request every 0.1 s
        assert (await chatty.request("ping", request_id=i))["event"] == "pong"
        await asyncio.sleep(0.1)
    assert await silent.expect_close(timeout=1) == protocol.CLOSE_IDLE_TIMEOUT
    assert (await chatty.request("ping", request_id="still"))["event"] == "pong"
    await chatty.close()


@override_settings(WS_IDLE_TIMEOUT=0.2, WS_AUTH_TIMEOUT=5)
async def test_the_idle_timeout_leaves_unauthenticated_sockets_to_the_auth_timeout():
    client = Client()
    await client.open()
    assert await client.nothing(0.5)
    await client.close()


async def test_a_client_that_stops_reading_is_cut_off_and_the_others_get_broadcasts(
    viewer, monkeypatch
):
    """The transport's backlog is read through the server's flow extension (faked here)."""
    monkeypatch.setattr(consumer_module, "SLOW_CONSUMER_GRACE", 0.05)
    backlog, aborted = {"bytes": 0}, asyncio.Event()
    stalled = Client()
    stalled.comm.scope["extensions"] = {
        "realtime.flow": {"buffered": lambda: backlog["bytes"], "abort": aborted.set}
    }
    await stalled.open()
    assert (await stalled.auth(spec_token("viewer", ["stats.view"])))["event"] == "authenticated"
    reader = await authed_client(spec_token("viewer", ["stats.view"]))
    hub = get_hub()
    await hub.broadcast("tick", {"n": 1})
    assert (await stalled.expect("tick"))["data"] == {"n": 1}
    assert (await reader.expect("tick"))["data"] == {"n": 1}
    backlog["bytes"] = 2 * 1024 * 1024  # the client stopped reading: 2 MiB wait in the transport
    await hub.broadcast("tick", {"n": 2})
    assert (await reader.expect("tick"))["data"] == {"n": 2}
    assert await stalled.expect_close() == protocol.CLOSE_SLOW_CONSUMER
    await asyncio.wait_for(aborted.wait(), 2)  # the connection is dropped after the grace
    assert hub.clients[stalled.client_id].closed  # no more writes to it
    await hub.broadcast("tick", {"n": 3})
    assert (await reader.expect("tick"))["data"] == {"n": 3}
    await reader.close()


@override_settings(WS_MAX_FRAME_BYTES=1024)
async def test_errors_about_unparsable_frames_still_echo_the_request_id(viewer):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    big = json.dumps({"event": "ping", "data": {"pad": "x" * 2000}, "requestId": "big"})
    await client.send(big)
    reply = await client.recv()
    assert (reply["data"]["code"], reply["requestId"]) == ("frame_too_large", "big")
    await client.close()


async def test_frames_nested_too_deeply_get_an_error_with_their_request_id(viewer):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    deep = '{"event": "ping", "requestId": 7, "data": ' + "[" * 5000 + "]" * 5000 + "}"
    await client.send(deep)
    reply = await client.recv()
    assert (reply["data"]["code"], reply["requestId"]) == ("invalid_message", 7)
    assert (await client.request("ping", request_id="after"))["event"] == "pong"
    await client.close()


async def wait_for(condition, timeout: float = 3.0) -> None:
    """Poll ``condition`` (a cleanup that happens after the client's close) until true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@override_settings(WS_RATE_COMMAND="5/1s", WS_RATE_COMMAND_PER_USER="3/1s", WS_RATE_EXEMPT=[])
async def test_commands_are_limited_per_user_across_their_sockets(bridge, viewer, clock):
    """Issue 13 #9: more sockets do not buy a user more commands (WS_RATE_COMMAND_PER_USER)."""
    token = spec_token("bridge", ["gameserver"])
    first, second = await authed_client(token), await authed_client(token)
    for client, prefix in ((first, "a"), (second, "b")):
        for i in range(2):
            await client.send({"event": "sendToClient", "data": {"clientId": "nobody", "event": "x"},
                               "requestId": f"{prefix}{i}"})
    answers = await frames_until_quiet(first) + await frames_until_quiet(second)
    assert sorted((f["event"], f["requestId"]) for f in answers) == [
        ("error", "b1"), ("sent", "a0"), ("sent", "a1"), ("sent", "b0")
    ]
    refused = next(f for f in answers if f["event"] == "error")
    assert refused["data"]["code"] == "rate_limited"
    # Reads pass, the user's and another user's; the bucket refills with time.
    other = await authed_client(spec_token("viewer", ["stats.view"]))
    assert (await other.request("ping", request_id="p"))["event"] == "pong"
    assert (await second.request("ping", request_id="p"))["event"] == "pong"
    clock.now += 1
    reply = await second.request("sendToClient", {"clientId": "nobody", "event": "x"}, "b2")
    assert reply["event"] == "sent"
    for client in (first, second, other):
        await client.close()
