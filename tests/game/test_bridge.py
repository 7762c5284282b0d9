"""The game server's bridge over the real ASGI app: snapshot, changes, broadcasts in the
spec's shapes, who counts as the bridge, and what its disconnect does."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from game.models import Character, GameServer, Player
from game.simulator import World
from tests.game.support import (
    SimulatedServer, answer, ask, bridge_client, expect_request, player, send_snapshot,
)
from tests.helpers import Client, spec_part

pytestmark = pytest.mark.django_db(transaction=True)


async def test_snapshot_is_what_get_players_and_get_stats_answer(admin, bridge):
    character = {"id": 7, "name": "John Doe", "job": "Police Officer", "cash": 5000, "bank": 25000}
    reply = await send_snapshot(bridge, [player(1, "Ann", character), player(5, "Bob")])
    assert reply["event"] == "snapshotAccepted" and reply["requestId"] == "snap"
    assert reply["data"] == {"players": 2, "jobs": [], "server": "main", "serverRunId": reply["data"]["serverRunId"]}
    assert len(reply["data"]["serverRunId"]) == 32
    players = await ask(admin, "getPlayers", request_id="p")
    assert spec_part(players) == {
        "event": "players",
        "requestId": "p",
        "data": {"players": [
            {"source": 1, "name": "Ann",
             "identifiers": {"license": "license:ann", "discord": "discord:100"},
             "character": character},
            {"source": 5, "name": "Bob",
             "identifiers": {"license": "license:bob", "discord": "discord:500"},
             "character": None},
        ]},
    }
    stats = (await ask(admin, "getStats"))["data"]
    assert stats["onlinePlayers"] == 2 and stats["maxPlayers"] == 64
    assert 120 <= stats["uptime"] < 130
    assert stats["online"] is True and stats["serverName"] == "Test server"


async def test_a_new_snapshot_replaces_the_old_state(admin, bridge):
    await send_snapshot(bridge, [player(1), player(2), player(3)])
    await send_snapshot(bridge, [player(9, "Zed")], maxPlayers=32)
    players = (await ask(admin, "getPlayers"))["data"]["players"]
    assert [p["source"] for p in players] == [9]
    assert (await ask(admin, "getStats"))["data"]["maxPlayers"] == 32


async def test_snapshot_status_is_broadcast(admin, bridge):
    await send_snapshot(bridge, [player(1)])
    status = await admin.expect("gameServerStatus")
    assert status["data"] == {"online": True, "serverName": "Test server", "maxPlayers": 64, "onlinePlayers": 1,
                              "server": "main"}


async def test_a_snapshot_larger_than_a_frame_spans_several(admin, people):
    server = await SimulatedServer(World(300, online=300, seed=3)).start()
    try:
        assert server.printed("snapshot 300 players online, 0 jobs known (2 frames)")
        players = (await ask(admin, "getPlayers"))["data"]["players"]
        assert len(players) == 300
        assert (await ask(admin, "getStats"))["data"]["onlinePlayers"] == 300
    finally:
        await server.stop()


async def test_snapshot_players_without_a_snapshot_is_refused(bridge):
    reply = await ask(bridge, "snapshotPlayers", {"players": [player(1)]}, request_id="s")
    assert reply["data"]["code"] == "conflict"
    assert "send serverSnapshot first" in reply["data"]["message"]
    assert not await Player.objects.acount()


async def test_the_benchmarks_exact_trigger_is_broadcast_to_every_client_allowed(admin, viewer, people):
    """loadgen.js fanout: a gameserver socket that sent no snapshot, no requestId. Player
    events need players.view: the bridge's own account (gameserver only) is not sent them."""
    trigger = await bridge_client()
    stranger = Client()
    await stranger.open()
    await trigger.send({"event": "playerJoined", "data": {
        "source": 100000, "name": "bench-1-0", "license": "license:bench-1-0",
        "identifiers": {"license": "license:bench-1-0"}}})
    expected = {"event": "playerJoined", "data": {"source": 100000, "name": "bench-1-0", "license": "license:bench-1-0",
                                                  "server": "main"}}
    for client in (admin, viewer):
        assert spec_part(await client.expect("playerJoined")) == expected
    raw = await ask(admin, "getPlayers")
    assert [p["name"] for p in raw["data"]["players"]] == ["bench-1-0"]
    await trigger.send({"event": "playerLeft", "data": {"source": 100000, "reason": "bench"}})
    left = {"event": "playerLeft", "data": {"source": 100000, "name": "bench-1-0", "reason": "bench",
                                            "server": "main"}}
    for client in (admin, viewer):
        assert spec_part(await client.expect("playerLeft")) == left
    assert await stranger.nothing(0.2), "an unauthenticated socket gets no broadcast"
    # Nor anything else: the client list and the signing key go only to a bridge that asked
    # for them (bridgeSync, as the FiveM resource does).
    assert await trigger.nothing(0.1), "the bridge's account does not hold players.view"
    await stranger.close()
    await trigger.close()


async def test_player_joined_accepts_a_license_alone(admin, bridge):
    await bridge.send({"event": "playerJoined", "data": {"source": 4, "name": "Dee", "license": "abc"}})
    joined = await admin.expect("playerJoined")
    assert joined["data"] == {"source": 4, "name": "Dee", "license": "license:abc", "server": "main"}
    players = (await ask(admin, "getPlayers"))["data"]["players"]
    assert players[0]["identifiers"] == {"license": "license:abc"}


async def test_character_selected_and_updated_are_broadcast_and_stored(admin, viewer, bridge):
    await send_snapshot(bridge, [player(5, "Eve")])
    character = {"id": 12, "name": "Eve Moreno", "job": "Mechanic", "cash": 10, "bank": 20}
    ack = await ask(bridge, "characterSelected", {"source": 5, "character": character}, request_id="c")
    assert ack == {"event": "ack", "requestId": "c"}
    for client in (admin, viewer):
        selected = await client.expect("characterSelected")
        assert selected["data"] == {"source": 5, "characterId": 12, "name": "Eve Moreno", "server": "main"}
    await ask(bridge, "characterUpdated", {"source": 5, "job": "Taxi Driver", "cash": 400}, request_id="u")
    updated = await admin.expect("characterUpdated")
    assert updated["data"] == {"source": 5, "characterId": 12, "name": "Eve Moreno", "job": "Taxi Driver",
                               "cash": 400, "bank": 20, "server": "main"}
    players = (await ask(admin, "getPlayers"))["data"]["players"]
    assert players[0]["character"] == {"id": 12, "name": "Eve Moreno", "job": "Taxi Driver", "cash": 400, "bank": 20}
    assert (await Character.objects.aget(id=12)).license == "license:eve"


@pytest.mark.parametrize(
    ("event", "data", "code", "message"),
    [
        ("playerJoined", {"source": "5", "name": "x"}, "invalid_payload",
         "Invalid playerJoined: source: Must be a whole number."),
        ("playerJoined", {"source": 0, "name": "x"}, "invalid_payload",
         "Invalid playerJoined: source: Ensure this value is greater than or equal to 1."),
        ("playerJoined", {"source": 5}, "invalid_payload", "Invalid playerJoined: name: This field is required."),
        ("playerJoined", {"source": 5, "name": "x", "identifiers": "license:abc"}, "invalid_payload",
         'Invalid playerJoined: identifiers: Must be an object like {"license": "license:abc"} or a list like ["license:abc"].'),
        ("playerLeft", {"source": 77}, "not_found", "No online player with source 77"),
        ("characterSelected", {"source": 77, "character": {"id": 1, "name": "A"}}, "not_found",
         "No online player with source 77"),
        ("characterSelected", {"source": 1, "character": {"id": 1}}, "invalid_payload",
         "Invalid characterSelected: character.name: This field is required."),
        ("characterUpdated", {"source": 1}, "invalid_payload",
         "Invalid characterUpdated: Give at least one of name, job, cash, bank."),
        ("characterUpdated", {"source": 1, "cash": 5}, "conflict", "Player 1 has no character selected"),
        ("serverSnapshot", {"players": [player(1), player(1)]}, "invalid_payload",
         "Invalid serverSnapshot: players: Each player's source must appear once."),
        ("checkBan", {"identifiers": {}}, "invalid_payload", "Invalid checkBan: identifiers: Give at least one identifier."),
    ],
)
async def test_bad_bridge_reports_get_clear_errors_and_change_nothing(bridge, event, data, code, message):
    await send_snapshot(bridge, [player(1)])
    reply = await ask(bridge, event, data, request_id="r")
    assert reply["event"] == "error" and reply["requestId"] == "r"
    assert reply["data"]["code"] == code
    assert reply["data"]["message"] == message
    assert [p.source async for p in Player.objects.all()] == [1]
    assert not await Character.objects.aexists()


async def test_bridge_events_need_the_gameserver_grant(admin):
    reply = await ask(admin, "playerJoined", {"source": 1, "name": "x"}, request_id="r")
    assert reply["data"] == {"message": "Permission denied: playerJoined requires gameserver",
                             "code": "permission_denied"}
    assert not await Player.objects.aexists()


async def test_reports_are_applied_in_the_order_sent(admin, bridge):
    """Frames are not awaited one by one: a join must never be overtaken by its leave.
    (30 frames: a socket may have at most 32 requests in flight.)"""
    await send_snapshot(bridge, [])
    for source in range(1, 16):
        await bridge.send({"event": "playerJoined", "data": {"source": source, "name": f"p{source}"}})
        await bridge.send({"event": "playerLeft", "data": {"source": source, "reason": "quit"}})
    seen = []
    while len(seen) < 30:
        frame = await admin.recv()
        if frame["event"] in {"playerJoined", "playerLeft"}:
            seen.append((frame["event"], frame["data"]["source"]))
    assert seen == [(e, s) for s in range(1, 16) for e in ("playerJoined", "playerLeft")]
    assert not await Player.objects.aexists()


async def test_when_the_bridge_disconnects_its_players_go_offline(admin, people):
    bridge = await bridge_client()
    await send_snapshot(bridge, [player(1), player(2)])
    await bridge.close()
    assert (await admin.expect("gameServerStatus"))["data"]["online"] is True
    assert (await admin.expect("gameServerStatus"))["data"] == {"online": False, "server": "main"}
    assert (await ask(admin, "getPlayers"))["data"] == {"players": []}
    stats = (await ask(admin, "getStats"))["data"]
    assert stats["onlinePlayers"] == 0 and stats["uptime"] == 0 and stats["online"] is False
    assert stats["maxPlayers"] == 64, "the last known size of the server is kept"
    reply = await ask(admin, "kickPlayer", {"source": 1, "reason": "x"}, request_id="k")
    assert reply["data"] == {"message": "The game server is offline", "code": "game_server_offline"}
    assert not await Player.objects.aexists()


async def test_players_of_a_bridge_that_is_gone_without_a_goodbye_are_not_online(admin, bridge):
    """A SIGKILLed process runs no disconnect hook: the stored bridge is simply not connected."""
    await send_snapshot(bridge, [player(1)])
    await GameServer.objects.filter(slug="main").aupdate(bridge_client_id="gone-with-its-process")
    assert (await ask(admin, "getPlayers"))["data"]["players"] == []
    assert (await ask(admin, "getStats"))["data"]["onlinePlayers"] == 0
    assert await Player.objects.acount() == 1, "the rows wait for the next snapshot"


async def test_the_newest_bridge_wins(admin, people):
    first = await bridge_client()
    await send_snapshot(first, [player(1)])
    second = await bridge_client()
    await send_snapshot(second, [player(2)])
    replaced = await first.expect("bridgeReplaced")
    assert replaced["data"] == {"clientId": second.client_id}
    await admin.send({"event": "kickPlayer", "data": {"source": 2, "reason": "r"}, "requestId": "k"})
    command = await expect_request(second, "kickPlayer")
    await answer(second, command)
    assert (await admin.expect("success"))["data"] == {"message": "Player 2 kicked"}
    await first.close()  # the replaced bridge leaving changes nothing
    assert [p["source"] for p in (await ask(admin, "getPlayers"))["data"]["players"]] == [2]
    await second.close()


async def test_a_change_event_while_no_bridge_is_online_makes_its_sender_the_bridge(admin, bridge):
    await ask(bridge, "playerJoined", {"source": 3, "name": "Cy"}, request_id="j")
    assert (await GameServer.objects.aget(slug="main")).bridge_client_id == bridge.client_id
    await admin.send({"event": "announce", "data": {"message": "hi"}, "requestId": "a"})
    await answer(bridge, await expect_request(bridge, "announce"))
    assert (await admin.expect("success"))["data"] == {"message": "Announcement sent"}


async def test_the_simulator_reports_its_world(admin, game):
    players = (await ask(admin, "getPlayers"))["data"]["players"]
    assert [p["name"] for p in players] == [p.person.name for p in game.world.online.values()]
    assert all(p["character"] is not None for p in players)
    assert all(set(p["identifiers"]) == {"license", "discord"} for p in players)
    person = game.world.offline()[0]
    snapshot = [(await admin.expect("playerJoined"))["data"]["source"] for _ in game.world.online]
    assert snapshot == sorted(game.world.online), "the snapshot's players, told as joined"
    joined = await game.sim.join(person)
    broadcast = await admin.expect("playerJoined")
    assert broadcast["data"] == {"source": joined.source, "name": person.name, "license": person.license,
                                 "server": "main"}
    await game.sim.select(joined)
    assert (await admin.expect("characterSelected"))["data"]["characterId"] == person.character["id"]
    await game.sim.leave(joined, "Exiting")
    assert (await admin.expect("playerLeft"))["data"] == {"source": joined.source, "name": person.name, "reason": "Exiting",
                                                            "server": "main"}
    assert game.printed(f"joined   #{joined.source} {person.name}")
    assert game.printed(f"left     #{joined.source} {person.name}: Exiting")


async def test_a_simulator_with_a_seed_plays_the_same_world(people):
    a, b = World(5, online=2, seed=42), World(5, online=2, seed=42)
    assert a.snapshot()["players"] == b.snapshot()["players"]
    assert [p.identifiers for p in a.people] == [p.identifiers for p in b.people]
    assert World(5, seed=43).people[0].identifiers != a.people[0].identifiers


async def test_check_ban_without_a_ban(bridge):
    reply = await ask(bridge, "checkBan", {"identifiers": ["license:x", "discord:1"]}, request_id="c")
    assert reply == {"event": "banStatus", "requestId": "c",
                     "data": {"banned": False, "reason": None, "expiresAt": None}}


async def test_state_lives_in_the_database(admin, bridge):
    await send_snapshot(bridge, [player(1, "Ann")])
    rows = await database_sync_to_async(lambda: list(Player.objects.values_list("source", "name")))()
    assert rows == [(1, "Ann")]
    server = await GameServer.objects.aget(slug="main")
    assert server.reported_name == "Test server" and server.bridge_client_id == bridge.client_id


@pytest.mark.parametrize(
    ("identifiers", "message"),
    [
        ({"license": "x" * 121}, "identifiers: The license identifier must be a non-empty string of at most "
                                 "128 characters (type: prefix included)."),
        ({"License": "license:x"}, "identifiers: 'License' is not an identifier type (lowercase letters, digits, _)."),
        ({"license": 5}, "identifiers: The license identifier must be a non-empty string of at most "
                         "128 characters (type: prefix included)."),
        ({f"t{i}": "v" for i in range(17)}, "identifiers: At most 16 identifiers."),
    ],
)
async def test_identifiers_are_checked_after_their_type_prefix_is_added(bridge, identifiers, message):
    reply = await ask(bridge, "playerJoined", {"source": 1, "name": "x", "identifiers": identifiers})
    assert reply["data"]["message"] == f"Invalid playerJoined: {message}"
    assert not await Player.objects.aexists()


async def test_identifiers_get_their_type_prefix(admin, bridge):
    await ask(bridge, "playerJoined", {"source": 1, "name": "x", "identifiers": {"license": "abc", "discord": "discord:1"}})
    players = (await ask(admin, "getPlayers"))["data"]["players"]
    assert players[0]["identifiers"] == {"license": "license:abc", "discord": "discord:1"}


async def test_non_finite_numbers_are_refused(bridge):
    await bridge.send('{"event": "serverSnapshot", "requestId": "n", "data": {"uptime": NaN}}')
    reply = await bridge.expect("error")
    # Refused at the edge since issue 13 #20: NaN/Infinity are not JSON (realtime.protocol.parse).
    assert reply["requestId"] == "n" and reply["data"]["code"] == "invalid_message"
    assert "NaN" in reply["data"]["message"]


async def test_a_refused_report_does_not_make_its_sender_the_bridge(admin, people):
    first = await bridge_client()
    await send_snapshot(first, [player(1)])
    await GameServer.objects.filter(slug="main").aupdate(bridge_client_id="a-bridge-whose-process-died")
    newcomer = await bridge_client()
    reply = await ask(newcomer, "playerLeft", {"source": 99})
    assert reply["data"]["code"] == "not_found"
    server = await GameServer.objects.aget(slug="main")
    assert server.bridge_client_id == "a-bridge-whose-process-died"
    assert await Player.objects.acount() == 1, "nothing claimed, nothing cleared"
    assert (await ask(newcomer, "playerJoined", {"source": 2, "name": "Bo"}))["event"] == "ack"
    assert (await GameServer.objects.aget(slug="main")).bridge_client_id == newcomer.client_id
    assert [p.source async for p in Player.objects.all()] == [2], "a claim starts with no players"
    await newcomer.close()
    await first.close()
