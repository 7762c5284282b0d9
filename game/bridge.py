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
from realtime.registry import Reply, Request, event

db = database_sync_to_async


def _status(ref: server.Ref, data: dict, online_players: int) -> dict:
    return {
        "online": True,
        "serverName": data.get("serverName", ""),
        "maxPlayers": data.get("maxPlayers", 0),
        "onlinePlayers": online_players,
        "server": ref.slug,
    }


async def tell_difference(ref: server.Ref, left: list[dict], joined: list[dict]) -> None:
    """What changed since clients were last told, in the spec's broadcasts: a client that
    follows only playerJoined/playerLeft ends with exactly the server's list."""
    for player in left:
        await api.abroadcast(
            "playerLeft",
            {"source": player["source"], "name": player["name"], "reason": server.SNAPSHOT_REASON,
             "server": ref.slug},
        )
    for player in joined:
        await api.abroadcast(
            "playerJoined",
            {"source": player["source"], "name": player["name"], "license": player["license"] or None,
             "server": ref.slug},
        )


@event("serverSnapshot", permission=GAMESERVER, schema=schemas.SnapshotSchema,
       reply="snapshotAccepted", ordered=True, http=False)
async def server_snapshot(request: Request) -> Reply:
    """The game server's whole state; replaces what the platform knew (sent on connect)."""
    data = request.data
    ref = await server.bridge_server(request)
    result = await db(world.apply_snapshot)(ref.id, request.client_id, request.username, data)
    server.settle(request.client_id)
    await view.changed()
    previous = result["previous"]
    if previous and previous != request.client_id:
        await server.replace(previous, request.client_id)
    await tell_difference(ref, result["left"], result["joined"])
    count = len(data["players"])
    await api.abroadcast("gameServerStatus", _status(ref, data, count))
    return Reply("snapshotAccepted", {"players": count, "jobs": await db(jobs.all_jobs)(),
                                      "server": ref.slug, "serverRunId": result["run_id"]})


@event("snapshotPlayers", permission=GAMESERVER, schema=schemas.SnapshotPlayersSchema,
       reply="snapshotAccepted", ordered=True, http=False)
async def snapshot_players(request: Request) -> Reply:
    """More players of this bridge's snapshot, when they do not fit in one frame."""
    players = request.data["players"]
    ref = await server.bridge_server(request)
    left, joined = await db(world.add_snapshot_players)(ref.id, request.client_id, players)
    await view.changed()
    await tell_difference(ref, left, joined)
    state = await db(world.server_state)(ref.id)
    await api.abroadcast(
        "gameServerStatus",
        _status(ref, {"serverName": state["reported_name"], "maxPlayers": state["max_players"]},
                state["online_players"]),
    )
    return Reply("snapshotAccepted", {"players": state["online_players"], "server": ref.slug})


@event("playerJoined", permission=GAMESERVER, schema=schemas.PlayerJoinedSchema, ordered=True, http=False)
async def player_joined(request: Request) -> None:
    """A player joined the game server (after the bridge's checkBan admitted them)."""
    data = request.data
    ref, _ = await server.report(
        request, lambda ref: world.add_player(ref.id, data["source"], data["name"], data["identifiers"])
    )
    await view.changed()
    await api.abroadcast(
        "playerJoined",
        {"source": data["source"], "name": data["name"], "license": data["identifiers"].get("license"),
         "server": ref.slug},
    )


@event("playerLeft", permission=GAMESERVER, schema=schemas.PlayerLeftSchema, ordered=True, http=False)
async def player_left(request: Request) -> None:
    """A player left the game server (for whatever reason, kicks and bans included)."""
    source, reason = request.data["source"], request.data["reason"]
    ref, name = await server.report(request, lambda ref: world.remove_player(ref.id, source))
    await view.changed()
    await api.abroadcast("playerLeft", {"source": source, "name": name, "reason": reason, "server": ref.slug})


@event("characterSelected", permission=GAMESERVER, schema=schemas.CharacterSelectedSchema, ordered=True, http=False)
async def character_selected(request: Request) -> None:
    """A player chose the character they play."""
    source, character = request.data["source"], request.data["character"]
    ref, _ = await server.report(request, lambda ref: world.select_character(ref.id, source, character))
    await view.changed()
    await api.abroadcast(
        "characterSelected",
        {"source": source, "characterId": character["id"], "name": character["name"], "server": ref.slug},
    )


@event("characterUpdated", permission=GAMESERVER, schema=schemas.CharacterUpdatedSchema, ordered=True, http=False)
async def character_updated(request: Request) -> None:
    """A player's character changed job, cash, bank or name."""
    changes = dict(request.data)
    source = changes.pop("source")
    ref, character = await server.report(request, lambda ref: world.update_character(ref.id, source, changes))
    await view.changed()
    await api.abroadcast(
        "characterUpdated",
        {"source": source, "characterId": character.pop("id"), **character, "server": ref.slug},
    )


@event("checkBan", permission=GAMESERVER, schema=schemas.CheckBanSchema, reply="banStatus", http="POST /bans/check")
async def check_ban(request: Request) -> Reply:
    """Whether a connecting player's identifiers are banned on this bridge's server (a ban
    of every server, or one of this server): {banned, reason, expiresAt}."""
    ref = await server.bridge_server(request)
    values = list(request.data["identifiers"].values())
    return Reply("banStatus", await db(bans.status)(values, ref.id))
