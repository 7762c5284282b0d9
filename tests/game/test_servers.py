"""Issue 14: the game server's life cycle told in the spec's own events, commands that say
whom they mean, and several game servers on one platform (over the real ASGI app)."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async

from game import servers
from game.models import AuditEntry, GameServer, Player
from tests.game.support import GameClient, answer, ask, bridge_client, expect_request, game_client, player, send_snapshot
from tests.helpers import Client, spec_token

pytestmark = pytest.mark.django_db(transaction=True)

VIEWER = ["players.view", "stats.view", "jobs.view", "bans.view"]


class SpecHook:
    """The spec's React hook (useWebSocket), verbatim in behaviour: the list is getPlayers'
    answer; playerJoined asks getPlayers again; playerLeft removes that source. Nothing
    else (gameServerStatus, server fields) is known to it."""

    def __init__(self, client: GameClient) -> None:
        self.client = client
        self.players: list[dict] = []

    @classmethod
    async def open(cls) -> SpecHook:
        hook = cls(await game_client(spec_token("viewer", VIEWER)))
        await hook.client.send({"event": "getPlayers"})
        return hook

    def names(self) -> dict[int, str]:
        return {p["source"]: p["name"] for p in self.players}

    async def until(self, expected: dict[int, str], timeout: float = 5) -> None:
        """Handle frames as the hook does until its list is ``expected``."""
        deadline = time.monotonic() + timeout
        while self.names() != expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the spec client shows {self.names()}, the game server has {expected}")
            frame = await Client.recv(self.client, remaining)
            if frame["event"] == "players":
                self.players = frame["data"]["players"]
            elif frame["event"] == "playerJoined":
                await self.client.send({"event": "getPlayers"})
            elif frame["event"] == "playerLeft":
                self.players = [p for p in self.players if p["source"] != frame["data"]["source"]]


async def test_a_spec_client_sees_a_restarted_game_server_as_it_is(people, admin):
    """The issue's scenario: the bridge goes, comes back with other people at the same
    sources; the spec's hook ends with exactly the new list, and a kick that names the
    stale row's player is refused instead of kicking whoever has that source now."""
    hook = await SpecHook.open()
    first = await bridge_client()
    await send_snapshot(first, [player(1, "Ann"), player(2, "Kestrel63")])
    await hook.until({1: "Ann", 2: "Kestrel63"})
    stale_run = (await ask(admin, "getStats"))["data"]["serverRunId"]

    await first.close()  # the game server restarts
    await hook.until({})
    left = [await admin.expect("playerLeft") for _ in range(2)]
    assert [f["data"] for f in left] == [
        {"source": 1, "name": "Ann", "reason": "Game server offline", "server": "main"},
        {"source": 2, "name": "Kestrel63", "reason": "Game server offline", "server": "main"},
    ]
    assert (await admin.expect("gameServerStatus"))["data"]["online"] is True  # the first snapshot's
    assert (await admin.expect("gameServerStatus"))["data"] == {"online": False, "server": "main"}

    second = await bridge_client()
    await send_snapshot(second, [player(2, "Kestrel28"), player(3, "Cy")])
    await hook.until({2: "Kestrel28", 3: "Cy"})
    assert hook.names() == {p["source"]: p["name"] for p in (await ask(admin, "getPlayers"))["data"]["players"]}

    for expectation in ({"name": "Kestrel63"}, {"serverRunId": stale_run}, {"license": "license:Kestrel63"}):
        reply = await ask(admin, "kickPlayer", {"source": 2, "reason": "stale row", **expectation}, request_id="k")
        assert reply["event"] == "error" and reply["data"]["code"] == "conflict", reply
        assert reply["data"]["source"] == 2
    assert "Kestrel28" in reply["data"]["message"] or "someone else" in reply["data"]["message"]
    assert await second.nothing(0.2), "nobody was kicked"
    assert await AuditEntry.objects.filter(action="player.kick", outcome="failed").acount() == 3

    current_run = (await ask(admin, "getStats"))["data"]["serverRunId"]
    assert current_run != stale_run
    await admin.send({"event": "kickPlayer", "requestId": "ok", "data": {
        "source": 2, "reason": "meant", "name": "Kestrel28", "serverRunId": current_run}})
    await answer(second, await expect_request(second, "kickPlayer"))
    assert (await admin.expect("success"))["data"] == {"message": "Player 2 kicked"}
    await second.close()
    await hook.client.close()


async def test_a_snapshot_is_told_as_its_difference(people, admin, bridge):
    await send_snapshot(bridge, [player(1, "Ann"), player(2, "Bob")])
    joined = [(await admin.expect("playerJoined"))["data"] for _ in range(2)]
    assert joined == [{"source": 1, "name": "Ann", "license": "license:ann", "server": "main"},
                      {"source": 2, "name": "Bob", "license": "license:bob", "server": "main"}]
    await admin.expect("gameServerStatus")
    # The same bridge re-sends its state: Ann stayed, Bob's source is someone else's now.
    await send_snapshot(bridge, [player(1, "Ann"), player(2, "Eve"), player(4, "Dan")])
    assert (await admin.expect("playerLeft"))["data"] == {
        "source": 2, "name": "Bob", "reason": "Not in the game server's snapshot", "server": "main"}
    joined = [(await admin.expect("playerJoined"))["data"]["name"] for _ in range(2)]
    assert joined == ["Eve", "Dan"]
    assert (await admin.expect("gameServerStatus"))["data"]["onlinePlayers"] == 3
    assert await admin.nothing(0.2), "Ann, unchanged, was not told again"


async def test_a_newer_bridge_replaces_the_older_which_is_told_and_closed(people, admin):
    first = await bridge_client()
    await send_snapshot(first, [player(1, "Ann")])
    second = await bridge_client()
    await send_snapshot(second, [player(1, "Ann"), player(2, "Bob")])
    assert (await first.expect("bridgeReplaced"))["data"] == {"clientId": second.client_id}
    assert await first.expect_close() == 4011
    await first.close()  # returns once the platform has handled its going away
    players = (await ask(admin, "getPlayers"))["data"]["players"]
    assert [p["source"] for p in players] == [1, 2], "no duplicated players"
    frames = [f for f in admin.backlog if f["event"] == "playerLeft"]
    assert frames == [], "the replaced bridge's close took nobody offline"
    await second.close()


async def test_a_dead_process_s_bridge_leaves_when_its_presence_expires(people, admin, bridge):
    """clients_expired (presence found a dead process): the bridge's players leave."""
    from game import server

    await send_snapshot(bridge, [player(1, "Ann")])
    await GameServer.objects.filter(slug="main").aupdate(bridge_client_id="on-a-dead-process")
    await server.on_clients_expired(None, client_ids=["on-a-dead-process", "someone-else"])
    assert (await admin.expect("playerLeft"))["data"]["reason"] == "Game server offline"
    assert (await admin.expect("gameServerStatus"))["data"]["online"] is True  # the snapshot's
    assert (await admin.expect("gameServerStatus"))["data"] == {"online": False, "server": "main"}
    await server.on_clients_expired(None, client_ids=["on-a-dead-process"])  # another process noticed too
    assert await admin.nothing(0.2), "told once"
    assert not await Player.objects.aexists()


# -- several servers -------------------------------------------------------------------


@pytest.fixture
async def two(people):
    """Servers main (the default) and dev, each with a connected bridge of its own token."""
    await database_sync_to_async(servers.add)("main", "Main server", 64)
    await database_sync_to_async(servers.add)("dev", "Development", 8)
    main = await game_client(await database_sync_to_async(servers.token)("main"))
    dev = await game_client(await database_sync_to_async(servers.token)("dev"))
    same_person = player(7, "Twin")
    await send_snapshot(main, [player(1, "Ann"), same_person])
    await send_snapshot(dev, [player(1, "Dora"), same_person], serverName="Dev box")
    yield main, dev
    await main.close()
    await dev.close()


async def test_each_bridge_speaks_for_its_own_server(two, admin):
    main, dev = two
    assert [p["name"] for p in (await ask(admin, "getPlayers"))["data"]["players"]] == ["Ann", "Twin"]
    on_dev = (await ask(admin, "getPlayers", {"server": "dev"}))["data"]["players"]
    assert [p["name"] for p in on_dev] == ["Dora", "Twin"], "the same license on two servers: both kept"
    stats = (await ask(admin, "getStats", {"server": "dev"}))["data"]
    assert stats["server"] == "dev" and stats["serverName"] == "Dev box" and stats["onlinePlayers"] == 2
    servers_ = (await ask(admin, "getServers"))["data"]["servers"]
    assert [(s["slug"], s["name"], s["online"], s["players"], s["default"]) for s in servers_] == [
        ("main", "Main server", True, 2, True), ("dev", "Development", True, 2, False)]
    # A report from dev's bridge is about dev, whatever it says.
    await ask(dev, "playerLeft", {"source": 1, "reason": "bye", "server": "main"}, request_id="l")
    left = await admin.expect("playerLeft")
    assert left["data"] == {"source": 1, "name": "Dora", "reason": "bye", "server": "dev"}
    assert [p["name"] for p in (await ask(admin, "getPlayers"))["data"]["players"]] == ["Ann", "Twin"]


async def test_commands_go_to_the_named_server_s_bridge(two, admin):
    main, dev = two
    await admin.send({"event": "kickPlayer", "requestId": "k", "data": {"source": 1, "reason": "r", "server": "dev"}})
    command = await expect_request(dev, "kickPlayer")
    assert command["data"] == {"source": 1, "reason": "r"}
    await answer(dev, command)
    assert (await admin.expect("success"))["data"] == {"message": "Player 1 kicked"}
    assert (await admin.expect("playerKicked"))["data"] == {"source": 1, "reason": "r", "server": "dev"}
    assert await main.nothing(0.2)
    unknown = await ask(admin, "kickPlayer", {"source": 1, "reason": "r", "server": "nope"})
    assert unknown["data"] == {"message": "No game server 'nope'", "code": "not_found", "server": "nope"}
    assert (await ask(admin, "getPlayers", {"server": "nope"}))["data"]["code"] == "not_found"


async def test_announce_to_one_or_every_server(two, admin):
    main, dev = two
    await admin.send({"event": "announce", "requestId": "a", "data": {"message": "hi all", "server": "*"}})
    for bridge in (main, dev):
        await answer(bridge, await expect_request(bridge, "announce"))
    reply = await admin.expect("success")
    assert reply["data"]["servers"] == ["main", "dev"] and reply["data"]["failed"] == []
    assert (await admin.expect("announcement"))["data"] == {
        "message": "hi all", "type": "info", "server": "*", "servers": ["main", "dev"]}
    await dev.close()
    await admin.send({"event": "announce", "requestId": "b", "data": {"message": "main only", "server": "*"}})
    await answer(main, await expect_request(main, "announce"))
    reply = await admin.expect("success")
    assert reply["data"]["servers"] == ["main"]
    assert reply["data"]["failed"] == [{"server": "dev", "code": "game_server_offline",
                                        "message": "The game server is offline"}]


async def test_bans_hold_everywhere_or_on_one_server(two, admin):
    main, dev = two
    everywhere = await ask(admin, "banPlayer", {"identifiers": ["license:zed"], "reason": "r", "duration": "1d"})
    assert everywhere["data"]["ban"]["server"] is None
    scoped = await ask(admin, "banPlayer", {"identifiers": ["license:yan"], "reason": "dev only",
                                            "duration": "1d", "server": "dev", "scope": "server"})
    assert scoped["data"]["ban"]["server"] == "dev"
    for bridge, yan_banned in ((main, False), (dev, True)):
        zed = await ask(bridge, "checkBan", {"identifiers": ["license:zed"]}, request_id="z")
        yan = await ask(bridge, "checkBan", {"identifiers": ["license:yan"]}, request_id="y")
        assert zed["data"]["banned"] is True
        assert yan["data"]["banned"] is yan_banned
    on_main = (await ask(admin, "getBans", {"server": "main"}))["data"]["bans"]
    assert [b["name"] or b["identifiers"][0] for b in on_main] == ["license:zed"]


async def test_jobs_are_pushed_to_every_bridge(two, admin):
    main, dev = two
    await admin.send({"event": "createJob", "requestId": "j", "data": {"name": "police", "label": "Police"}})
    for bridge in (main, dev):
        pushed = await expect_request(bridge, "jobsChanged")
        assert [j["name"] for j in pushed["data"]["jobs"]] == ["police"]
        await answer(bridge, pushed)
    assert (await admin.expect("success"))["data"]["pushed"] is True


async def test_a_removed_server_s_token_is_refused(two, admin):
    main, dev = two
    token = await database_sync_to_async(servers.token)("dev")
    await database_sync_to_async(servers.remove)("dev")
    assert await dev.expect_close() == 4003, "its open bridge socket closes"
    left = sorted([(await admin.expect("playerLeft"))["data"]["name"] for _ in range(2)])
    assert left == ["Dora", "Twin"], "its players leave"
    client = Client()
    await client.open()
    reply = await client.auth(token)
    assert reply["event"] == "error" and reply["data"]["code"] == "invalid_token"
    assert (await ask(admin, "getPlayers", {"server": "dev"}))["data"]["code"] == "not_found"
    assert [s["slug"] for s in (await ask(admin, "getServers"))["data"]["servers"]] == ["main"]


async def test_a_gameserver_account_of_no_server_is_refused_once_the_default_has_one(two, admin):
    stranger = await bridge_client("gameserver")  # holds gameserver, but no server names it
    reply = await ask(stranger, "playerJoined", {"source": 9, "name": "Mal"})
    assert reply["data"]["code"] == "permission_denied"
    assert "not the bridge of any game server" in reply["data"]["message"]
    await stranger.close()
