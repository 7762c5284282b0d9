"""Positions and recovery on one process (in memory): docs/PROTOCOL.md, "Positions and recovery"."""

from __future__ import annotations

import asyncio

import pytest

from realtime import api
from realtime.hub import get_hub
from tests.helpers import Client, amake_user, authed_client, spec_part, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


async def auth_since(client: Client, token: str, since) -> dict:  # noqa: ANN001
    return await client.request("auth", {"token": token, "since": since})


async def test_broadcasts_carry_strictly_increasing_positions_of_one_epoch():
    await amake_user("ops", ["players.view"])
    client = await authed_client(spec_token("ops", ["players.view"]))
    for i in range(3):
        await api.abroadcast("tick", {"i": i})
    frames = [await client.recv() for _ in range(3)]
    assert [spec_part(f) for f in frames] == [{"event": "tick", "data": {"i": i}} for i in range(3)]
    epochs = {f["position"]["epoch"] for f in frames}
    offsets = [f["position"]["offset"] for f in frames]
    assert len(epochs) == 1 and offsets == sorted(set(offsets)) and offsets[1] == offsets[0] + 1
    await client.close()


async def test_snapshot_replies_carry_the_position_they_are_current_as_of():
    await amake_user("ops", ["players.view", "stats.view", "jobs.view", "bans.view"])
    client = await authed_client(spec_token("ops", ["players.view", "stats.view", "jobs.view", "bans.view"]))
    await api.abroadcast("tick", {"i": 0})
    last = (await client.recv())["position"]
    for event, reply in (("getPlayers", "players"), ("getStats", "stats"), ("getJobs", "jobs"), ("getBans", "bans")):
        frame = await client.request(event, request_id=event)
        assert frame["event"] == reply and frame["requestId"] == event
        assert frame["position"] == last
    # A reply that is not a snapshot carries none.
    assert "position" not in await client.request("ping", request_id="p")
    await client.close()


async def test_reconnect_with_since_gets_exactly_what_it_missed_that_it_may_see():
    await amake_user("ops", ["players.view"])
    token = spec_token("ops", ["players.view"])
    first = await authed_client(token)
    await api.abroadcast("tick", {"i": 0})
    since = (await first.recv())["position"]
    await first.close()

    await api.abroadcast("tick", {"i": 1})
    await api.abroadcast("playerBanned", {"banId": 1})  # needs players.ban or bans.view: not for ops
    await api.abroadcast("tick", {"i": 2})

    again = Client()
    await again.open()
    reply = await auth_since(again, token, since)
    assert reply["event"] == "authenticated" and reply["data"]["recovered"] is True
    assert reply["data"]["permissions"] == ["players.view"]
    missed = [await again.recv(), await again.recv()]
    assert [spec_part(f) for f in missed] == [{"event": "tick", "data": {"i": 1}}, {"event": "tick", "data": {"i": 2}}]
    assert [f["position"]["offset"] for f in missed] == [since["offset"] + 1, since["offset"] + 3]
    assert await again.nothing(0.2)
    # Live delivery goes on after the replay.
    await api.abroadcast("tick", {"i": 3})
    assert (await again.recv())["position"]["offset"] == since["offset"] + 4
    await again.close()


async def test_nothing_missed_is_recovered_with_nothing_to_replay():
    await amake_user("ops", ["players.view"])
    token = spec_token("ops", ["players.view"])
    first = await authed_client(token)
    position = (await first.request("getPlayers", request_id=1))["position"]
    await first.close()
    again = Client()
    await again.open()
    reply = await auth_since(again, token, position)
    assert reply["data"]["recovered"] is True
    assert await again.nothing(0.2)
    await again.close()


@pytest.mark.parametrize("since", [
    {"epoch": "another-epoch", "offset": 0},  # the platform restarted: another history
    "future",  # an offset this history never gave
])
async def test_a_position_history_does_not_hold_is_not_recovered(since):
    await amake_user("ops", ["players.view"])
    token = spec_token("ops", ["players.view"])
    first = await authed_client(token)
    await api.abroadcast("tick", {"i": 0})
    position = (await first.recv())["position"]
    await first.close()
    if since == "future":
        since = {"epoch": position["epoch"], "offset": position["offset"] + 5}
    again = Client()
    await again.open()
    reply = await auth_since(again, token, since)
    assert reply["event"] == "authenticated" and reply["data"]["recovered"] is False
    assert await again.nothing(0.2), "not recovered: nothing replayed, the client reloads"
    await api.abroadcast("tick", {"i": 1})
    assert spec_part(await again.recv()) == {"event": "tick", "data": {"i": 1}}
    await again.close()


async def test_history_is_bounded_by_count(settings):
    settings.WS_HISTORY_SIZE = 3
    await amake_user("ops", ["players.view"])
    token = spec_token("ops", ["players.view"])
    first = await authed_client(token)
    await api.abroadcast("tick", {"i": 0})
    since = (await first.recv())["position"]
    await first.close()
    for i in range(1, 5):  # four more: the oldest of the missed ones no longer held
        await api.abroadcast("tick", {"i": i})
    again = Client()
    await again.open()
    assert (await auth_since(again, token, since))["data"]["recovered"] is False
    await again.close()

    # Three missed: held exactly.
    since = {"epoch": since["epoch"], "offset": since["offset"] + 1}
    third = Client()
    await third.open()
    assert (await auth_since(third, token, since))["data"]["recovered"] is True
    assert [(await third.recv())["data"]["i"] for _ in range(3)] == [2, 3, 4]
    await third.close()


async def test_history_is_bounded_by_age(settings):
    settings.WS_HISTORY_TTL = 0.3
    await amake_user("ops", ["players.view"])
    token = spec_token("ops", ["players.view"])
    first = await authed_client(token)
    await api.abroadcast("tick", {"i": 0})
    since = (await first.recv())["position"]
    await first.close()
    await api.abroadcast("tick", {"i": 1})
    # Not synchronisation: the age bound is what is tested, so its time must pass.
    await asyncio.sleep(0.4)
    again = Client()
    await again.open()
    assert (await auth_since(again, token, since))["data"]["recovered"] is False
    await again.close()


@pytest.mark.parametrize("since", [
    {"epoch": "e"}, {"offset": 1}, {"epoch": "e", "offset": -1}, {"epoch": "e", "offset": "1"},
    {"epoch": 5, "offset": 1}, {"epoch": "e", "offset": True}, "e:1", {"epoch": "x" * 65, "offset": 1},
])
async def test_a_bad_since_is_an_invalid_payload_and_the_socket_survives(since):
    await amake_user("ops", ["players.view"])
    token = spec_token("ops", ["players.view"])
    client = Client()
    await client.open()
    reply = await client.request("auth", {"token": token, "since": since}, request_id="a")
    assert reply["event"] == "error" and reply["data"]["code"] == "invalid_payload" and reply["requestId"] == "a"
    assert (await client.auth(token))["event"] == "authenticated"
    await client.close()


async def test_positions_off_means_no_position_and_never_recovered(settings):
    settings.WS_HISTORY_SIZE = 0
    await amake_user("ops", ["players.view"])
    token = spec_token("ops", ["players.view"])
    client = Client()
    await client.open()
    reply = await auth_since(client, token, {"epoch": "e", "offset": 0})
    assert reply["data"]["recovered"] is False
    await api.abroadcast("tick", {"i": 0})
    assert await client.recv() == {"event": "tick", "data": {"i": 0}}
    assert "position" not in await client.request("getPlayers", request_id=1)
    await client.close()


async def test_re_auth_ignores_since_and_an_auth_without_since_says_nothing_of_recovery():
    await amake_user("ops", ["players.view"])
    token = spec_token("ops", ["players.view"])
    client = Client()
    await client.open()
    assert "recovered" not in (await client.auth(token))["data"]
    reply = await auth_since(client, token, {"epoch": "e", "offset": 0})
    assert reply["event"] == "authenticated" and "recovered" not in reply["data"]
    await client.close()


async def test_a_connection_killed_while_broadcasts_flow_recovers_the_never_disconnected_log():
    """The issue's proof on one process: the reconnecting client's event log equals that
    of a client that never disconnected."""
    await amake_user("ops", ["players.view"])
    await amake_user("mod", ["players.view", "bans.view"])
    token = spec_token("ops", ["players.view"])
    total = 300
    reference = await authed_client(token)
    watcher = await authed_client(spec_token("mod", ["players.view", "bans.view"]))
    flaky = await authed_client(token)
    produced, resume = asyncio.Event(), asyncio.Event()

    async def produce() -> None:
        for i in range(total):
            await api.abroadcast("tick", {"i": i})
            if i % 7 == 0:  # one ops may not see: never replayed to it
                await api.abroadcast("playerUnbanned", {"banId": i, "name": "x"})
            if i == total // 2:
                # Half sent while the client was gone; the rest flows during its reconnect
                # (and replay), whatever the machine's speed: no race with the test.
                produced.set()
                await resume.wait()
            await asyncio.sleep(0)  # yield, so frames are read while others are produced
        await api.abroadcast("done", {})

    async def read_until_done(client: Client, log: list, stop_after: int | None = None) -> None:
        while True:
            frame = await client.recv(10)
            log.append(frame)
            if frame["event"] == "done" or (stop_after is not None and len(log) >= stop_after):
                return

    producer = asyncio.create_task(produce())
    expected: list = []
    reading = asyncio.create_task(read_until_done(reference, expected))
    got: list = []
    await read_until_done(flaky, got, stop_after=total // 5)
    await flaky.close()  # killed: what it had not read is lost with it
    await produced.wait()  # broadcasts went on meanwhile
    assert not producer.done(), "the reconnect should happen while broadcasts still flow"
    again = Client()
    await again.open()
    resume.set()  # broadcasts go on while the client authenticates and is replayed to
    reply = await auth_since(again, token, got[-1]["position"])
    assert reply["data"]["recovered"] is True
    await read_until_done(again, got)
    await producer
    await reading
    assert got == expected
    assert len(got) == total + 1 and all(f["event"] in {"tick", "done"} for f in got)
    offsets = [f["position"]["offset"] for f in got]
    assert offsets == sorted(set(offsets))
    for client in (reference, watcher, again):
        await client.close()


async def test_the_snapshot_position_is_the_hubs_last_delivered_one():
    await amake_user("ops", ["players.view"])
    client = await authed_client(spec_token("ops", ["players.view"]))
    hub = get_hub()
    before = hub.position()
    await api.abroadcast("tick", {"i": 0})
    frame = await client.recv()
    assert frame["position"] == hub.position() == {"epoch": before["epoch"], "offset": before["offset"] + 1}
    await client.close()
