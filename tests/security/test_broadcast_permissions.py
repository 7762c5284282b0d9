"""Issue 13 #3: each broadcast reaches only the sockets holding the permission its
declaration names; custom events (the broadcast export) reach every authenticated client."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from realtime import api
from realtime.registry import registry
from tests.game.support import bridge_client
from tests.helpers import authed_client, make_user, spec_token

pytestmark = pytest.mark.django_db(transaction=True)

JOINED = {"source": 7, "name": "Kestrel", "identifiers": {"license": "license:k7"}}


@pytest.fixture
async def sockets():
    def users() -> None:
        make_user("gameserver", ["gameserver"])
        make_user("stats", ["stats.view"])
        make_user("nobody")
        make_user("viewer", ["players.view"])
        make_user("bans", ["bans.view"])

    await database_sync_to_async(users)()
    clients = {
        "stats": await authed_client(spec_token("stats", ["stats.view"])),
        "nobody": await authed_client(spec_token("nobody", [])),
        "viewer": await authed_client(spec_token("viewer", ["players.view"])),
        "bans": await authed_client(spec_token("bans", ["bans.view"])),
    }
    yield clients
    for client in clients.values():
        await client.close()


async def test_player_events_need_players_view(sockets):
    bridge = await bridge_client()
    await bridge.send({"event": "playerJoined", "data": JOINED})
    joined = await sockets["viewer"].expect("playerJoined")
    assert joined["data"]["license"] == "license:k7"
    for name in ("stats", "nobody", "bans"):
        assert await sockets[name].nothing(0.1), f"{name} must not see playerJoined (its license)"
    await bridge.close()


async def test_ban_events_need_players_ban_or_bans_view(sockets):
    await api.abroadcast("playerBanned", {"banId": 1, "source": None, "name": "X", "reason": "r", "expiresAt": None})
    assert (await sockets["bans"].expect("playerBanned"))["data"]["reason"] == "r"
    for name in ("stats", "nobody", "viewer"):
        assert await sockets[name].nothing(0.1), f"{name} must not see ban names and reasons"


async def test_custom_events_and_announcements_reach_every_authenticated_client(sockets):
    await api.abroadcast("serverNews", {"n": 1})
    await api.abroadcast("announcement", {"message": "restart soon", "type": "info"})
    for client in sockets.values():
        assert (await client.expect("serverNews"))["data"] == {"n": 1}
        assert (await client.expect("announcement"))["data"]["message"] == "restart soon"


async def test_a_caller_may_name_the_permission_of_a_custom_event(sockets):
    await api.abroadcast("staffOnly", {"x": 1}, permission="stats.view")
    assert (await sockets["stats"].expect("staffOnly"))["data"] == {"x": 1}
    assert await sockets["nobody"].nothing(0.1)


def test_every_game_broadcast_is_declared_with_who_receives_it():
    assert registry.audience("playerJoined") == {"players.view"}
    assert registry.audience("characterUpdated") == {"players.view"}
    assert registry.audience("playerBanned") == {"players.ban", "bans.view"}
    assert registry.audience("jobsChanged") == {"jobs.view"}
    assert registry.audience("gameServerStatus") == {"stats.view", "players.view"}
    assert registry.audience("announcement") is None
    with pytest.raises(ValueError):
        registry.declare_outbound("playerJoined", permission="stats.view")


async def test_bans_are_read_with_bans_view_and_refused_without(sockets):
    from tests.game.support import ask

    assert (await ask(sockets["bans"], "getBans"))["event"] == "bans"
    refused = await ask(sockets["viewer"], "getBans")
    assert refused["data"]["code"] == "permission_denied"
    assert refused["data"]["message"] == "Permission denied: getBans requires bans.view or players.ban"
