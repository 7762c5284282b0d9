"""Socket events the game server's bridge sends (permission ``gameserver``).

They are ``ordered``: one bridge socket's reports are applied one after another in the
order sent (a join is never overtaken by its leave). Each change is stored, then
broadcast in the spec's shape to every authenticated client; a broadcast costs no query.
See docs/PROTOCOL.md, "The game world".
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from accounts.permissions import GAMESERVER
from game import bans, jobs, schemas, server, view, world
from realtime import api
from realtime.hub import get_hub
from realtime.registry import Reply, Request, event

db = database_sync_to_async


def _status(data: dict, online_players: int) -> dict:
    return {
        "online": True,
        "serverName": data.get("serverName", ""),
        "maxPlayers": data.get("maxPlayers", 0),
        "onlinePlayers": online_players,
    }


@event("serverSnapshot", permission=GAMESERVER, schema=schemas.SnapshotSchema,
       reply="snapshotAccepted", ordered=True, http=False)
async def server_snapshot(request: Request) -> Reply:
    """The game server's whole state; replaces what the platform knew (sent on connect)."""
    data = request.data
    previous = await db(world.apply_snapshot)(request.client_id, request.username, data)
    server.settle(request.client_id)
    await view.changed()
    if previous and previous != request.client_id:
        await get_hub().send_to(previous, "bridgeReplaced", {"clientId": request.client_id})
    count = len(data["players"])
    await api.abroadcast("gameServerStatus", _status(data, count))
    return Reply("snapshotAccepted", {"players": count, "jobs": await db(jobs.all_jobs)()})


@event("snapshotPlayers", permission=GAMESERVER, schema=schemas.SnapshotPlayersSchema,
       reply="snapshotAccepted", ordered=True, http=False)
async def snapshot_players(request: Request) -> Reply:
    """More players of this bridge's snapshot, when they do not fit in one frame."""
    players = request.data["players"]
    await db(world.add_snapshot_players)(request.client_id, players)
    await view.changed()
    state = await db(world.server_state)()
    await api.abroadcast(
        "gameServerStatus",
        _status({"serverName": state["name"], "maxPlayers": state["max_players"]}, state["online_players"]),
    )
    return Reply("snapshotAccepted", {"players": state["online_players"]})


@event("playerJoined", permission=GAMESERVER, schema=schemas.PlayerJoinedSchema, ordered=True, http=False)
async def player_joined(request: Request) -> None:
    """A player joined the game server (after the bridge's checkBan admitted them)."""
    data = request.data
    await server.report(request, lambda: world.add_player(data["source"], data["name"], data["identifiers"]))
    await view.changed()
    await api.abroadcast(
        "playerJoined",
        {"source": data["source"], "name": data["name"], "license": data["identifiers"].get("license")},
    )


@event("playerLeft", permission=GAMESERVER, schema=schemas.PlayerLeftSchema, ordered=True, http=False)
async def player_left(request: Request) -> None:
    """A player left the game server (for whatever reason, kicks and bans included)."""
    source, reason = request.data["source"], request.data["reason"]
    name = await server.report(request, lambda: world.remove_player(source))
    await view.changed()
    await api.abroadcast("playerLeft", {"source": source, "name": name, "reason": reason})


@event("characterSelected", permission=GAMESERVER, schema=schemas.CharacterSelectedSchema, ordered=True, http=False)
async def character_selected(request: Request) -> None:
    """A player chose the character they play."""
    source, character = request.data["source"], request.data["character"]
    await server.report(request, lambda: world.select_character(source, character))
    await view.changed()
    await api.abroadcast(
        "characterSelected", {"source": source, "characterId": character["id"], "name": character["name"]}
    )


@event("characterUpdated", permission=GAMESERVER, schema=schemas.CharacterUpdatedSchema, ordered=True, http=False)
async def character_updated(request: Request) -> None:
    """A player's character changed job, cash, bank or name."""
    changes = dict(request.data)
    source = changes.pop("source")
    character = await server.report(request, lambda: world.update_character(source, changes))
    await view.changed()
    await api.abroadcast(
        "characterUpdated",
        {"source": source, "characterId": character.pop("id"), **character},
    )


@event("checkBan", permission=GAMESERVER, schema=schemas.CheckBanSchema, reply="banStatus", http="POST /bans/check")
async def check_ban(request: Request) -> Reply:
    """Whether a connecting player's identifiers are banned: {banned, reason, expiresAt}."""
    values = list(request.data["identifiers"].values())
    return Reply("banStatus", await db(bans.status)(values))

