"""The spec's admin events over the real ASGI app, with the simulator (or a hand-driven
bridge) as the game server: replies, broadcasts, validation, failures, audit."""

from __future__ import annotations

import pytest
from django.test import override_settings

from game.models import AuditEntry
from tests.game.support import answer, ask, expect_request, player, send_snapshot
from tests.game.support import game_client
from tests.helpers import amake_user, spec_part, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("event", "permission"),
    [("getPlayers", "players.view"), ("getStats", "stats.view"), ("getJobs", "jobs.view"),
     ("kickPlayer", "players.kick"), ("announce", "announce"), ("banPlayer", "players.ban"),
     ("unbanPlayer", "players.ban"), ("getBans", "bans.view or players.ban"), ("createJob", "jobs.manage"),
     ("updateJob", "jobs.manage"), ("deleteJob", "jobs.manage"), ("getAuditLog", "admin")],
)
async def test_each_event_needs_its_permission(people, event, permission):
    client = await game_client(spec_token("gameserver", ["gameserver"]))
    reply = await ask(client, event, {})
    assert reply["data"] == {"message": f"Permission denied: {event} requires {permission}",
                             "code": "permission_denied"}
    await client.close()


async def test_get_jobs_answers_the_spec_shape(viewer):
    reply = await ask(viewer, "getJobs")
    assert spec_part(reply) == {"event": "jobs", "data": {"jobs": []}, "requestId": "r"}


async def test_get_stats_before_any_game_server(viewer):
    reply = await ask(viewer, "getStats")
    assert reply["data"] == {"onlinePlayers": 0, "maxPlayers": 0, "uptime": 0, "online": False, "serverName": "",
                             "server": "main", "serverRunId": None}


async def test_kick_reaches_the_game_server_and_every_client(admin, viewer, game):
    target = next(iter(game.world.online.values()))
    reply = await ask(admin, "kickPlayer", {"source": target.source, "reason": "Violation of server rules"})
    assert reply == {"event": "success", "data": {"message": f"Player {target.source} kicked"}, "requestId": "r"}
    kicked = {"event": "playerKicked", "data": {"source": target.source, "reason": "Violation of server rules",
                                                "server": "main"}}
    for client in (admin, viewer):
        assert spec_part(await client.expect("playerKicked")) == kicked
    assert game.printed(f"kicked   {target.label()}: Violation of server rules")
    left = await viewer.expect("playerLeft")
    assert left["data"] == {"source": target.source, "name": target.person.name,
                            "reason": "Kicked: Violation of server rules", "server": "main"}
    assert target.source not in game.world.online
    entry = await AuditEntry.objects.aget(action="player.kick")
    assert (entry.actor_name, entry.outcome) == ("boss", "ok")
    assert entry.target == f"player {target.source} {target.person.name} ({target.person.license})"
    assert entry.token_jti == "" and entry.data["reason"] == "Violation of server rules"
    assert entry.detail == f"{target.person.name} kicked"


async def test_the_audit_names_the_token_that_acted(people, game):
    from realtime.api import agenerate_token

    token = await agenerate_token("boss", ["players.kick"], "1h")
    client = await game_client(token)
    target = next(iter(game.world.online))
    assert (await ask(client, "kickPlayer", {"source": target, "reason": "x"}))["event"] == "success"
    entry = await AuditEntry.objects.aget(action="player.kick")
    from realtime.tokens import verify

    assert entry.token_jti == verify(token)["jti"]
    await client.close()


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        ({"source": 5}, "invalid_payload", "Invalid kickPlayer: reason: This field is required."),
        ({"source": 5, "reason": ""}, "invalid_payload", "Invalid kickPlayer: reason: This field may not be blank."),
        ({"source": "5", "reason": "x"}, "invalid_payload", "Invalid kickPlayer: source: Must be a whole number."),
        ({"reason": "x"}, "invalid_payload", "Invalid kickPlayer: source: This field is required."),
        ({"source": 999, "reason": "x"}, "not_found", "No online player with source 999"),
    ],
)
async def test_bad_kicks_get_clear_errors_and_reach_nobody(admin, game, data, code, message):
    reply = await ask(admin, "kickPlayer", data)
    assert reply["data"]["code"] == code and reply["data"]["message"] == message
    assert not game.printed("kicked")
    assert len(game.world.online) == 2
    assert [(e.action, e.target, e.at) async for e in AuditEntry.objects.all()] == []


async def test_kick_while_the_game_server_is_offline(admin):
    reply = await ask(admin, "kickPlayer", {"source": 1, "reason": "x"})
    assert reply["data"] == {"message": "The game server is offline", "code": "game_server_offline"}
    entry = await AuditEntry.objects.aget()
    assert (entry.action, entry.outcome, entry.detail) == ("player.kick", "failed", "The game server is offline")


async def test_a_kick_the_game_server_refuses_is_a_failed_action(admin, bridge):
    await send_snapshot(bridge, [player(3)])
    await admin.send({"event": "kickPlayer", "data": {"source": 3, "reason": "x"}, "requestId": "k"})
    command = await expect_request(bridge, "kickPlayer")
    assert command["data"] == {"source": 3, "reason": "x"}
    await answer(bridge, command, ok=False, message="player is an admin")
    reply = await admin.expect("error")
    assert reply == {"event": "error", "requestId": "k", "data": {
        "message": "The game server refused kickPlayer: player is an admin", "code": "command_failed"}}
    entry = await AuditEntry.objects.aget()
    assert entry.outcome == "failed" and entry.detail == reply["data"]["message"]


async def test_the_game_server_disconnecting_in_the_middle_of_a_kick(admin, bridge):
    await send_snapshot(bridge, [player(3)])
    await admin.send({"event": "kickPlayer", "data": {"source": 3, "reason": "x"}, "requestId": "k"})
    await expect_request(bridge, "kickPlayer")
    await bridge.close()
    reply = await admin.expect("error")
    assert reply["requestId"] == "k"
    assert reply["data"] == {"message": "The game server went offline before answering",
                             "code": "game_server_offline"}
    entry = await AuditEntry.objects.aget()
    assert (entry.outcome, entry.detail) == ("failed", "The game server went offline before answering")


@override_settings(WS_COMMAND_TIMEOUT=0.3)
async def test_a_game_server_that_does_not_answer(admin, bridge):
    await send_snapshot(bridge, [player(3)])
    await admin.send({"event": "kickPlayer", "data": {"source": 3, "reason": "x"}, "requestId": "k"})
    await expect_request(bridge, "kickPlayer")
    reply = await admin.expect("error")
    assert reply["data"] == {"message": "The game server did not answer kickPlayer within 0.3s",
                             "code": "command_failed"}
    assert (await AuditEntry.objects.aget()).outcome == "failed"
    assert (await ask(admin, "ping"))["event"] == "pong", "the admin's socket is fine"


async def test_announce(admin, viewer, game):
    reply = await ask(admin, "announce", {"message": "Server restart in 5 minutes!", "type": "warning"})
    assert reply["data"] == {"message": "Announcement sent"}
    assert game.printed("announce [warning] Server restart in 5 minutes!")
    for client in (admin, viewer):
        announced = await client.expect("announcement")
        assert announced["data"] == {"message": "Server restart in 5 minutes!", "type": "warning", "server": "main"}
    entry = await AuditEntry.objects.aget(action="announce")
    assert entry.outcome == "ok" and entry.detail == "shown to 2 players"


async def test_announce_type_defaults_to_info(admin, game):
    assert (await ask(admin, "announce", {"message": "hello"}))["event"] == "success"
    assert game.printed("announce [info] hello")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Invalid announce: message: This field is required."),
        ({"message": ""}, "Invalid announce: message: This field may not be blank."),
        ({"message": "x", "type": "shout"}, "Invalid announce: type: 'shout' is not one of: info, warning, error."),
        ({"message": 5}, "Invalid announce: message: Must be a string."),
    ],
)
async def test_bad_announcements(admin, game, data, message):
    reply = await ask(admin, "announce", data)
    assert reply["data"] == {"message": message, "code": "invalid_payload", "errors": reply["data"]["errors"]}
    assert not game.printed("announce")


async def test_announce_while_offline(admin):
    reply = await ask(admin, "announce", {"message": "hi"})
    assert reply["data"]["code"] == "game_server_offline"


async def test_a_user_with_players_view_only_can_read_but_not_kick(people, game):
    await amake_user("reader", ["players.view"])
    client = await game_client(spec_token("reader", ["players.view", "players.kick"]))
    assert len((await ask(client, "getPlayers"))["data"]["players"]) == 2
    reply = await ask(client, "kickPlayer", {"source": 1, "reason": "x"})
    assert reply["data"]["code"] == "permission_denied"
    assert not game.printed("kicked")
    await client.close()

