"""The game's socket events for admins (the spec's getPlayers, getStats, getJobs,
kickPlayer, announce, and the platform's bans, job management and audit log).

The bridge's own events are in game/bridge.py, imported here so that the registry's
autodiscovery of ``events`` modules finds both.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.permissions import ADMIN
from game import actions, audit, bans, bridge, commands, jobs, schemas, server, view, world  # noqa: F401 (bridge registers)
from game.audit import actor_of
from game.formats import iso
from realtime import api
from realtime.hub import get_hub
from realtime.protocol import NotFound, RawJSON, to_json
from realtime.registry import Reply, Request, event, registry

# The game's broadcasts and who receives them (docs/SECURITY.md); the exports may not
# forge them. Announcements are shown to every player in game: every client gets them.
registry.declare_outbound(
    "playerJoined", "playerLeft", "playerKicked", "characterSelected", "characterUpdated",
    permission="players.view",
)
registry.declare_outbound("playerBanned", "playerUnbanned", permission=("players.ban", "bans.view"))
registry.declare_outbound("jobsChanged", permission="jobs.view")
# A player list is only right if its holder hears when the game server comes and goes.
registry.declare_outbound("gameServerStatus", permission=("stats.view", "players.view"))
registry.declare_outbound("announcement")

db = database_sync_to_async


def _bridge_and_players() -> tuple[str | None, RawJSON, RawJSON]:
    # Encoded here, off the event loop and once per change of the world, not per request:
    # with ip: identifiers (for players.ip holders) and without (everyone else).
    players = world.players()
    hidden = [{**p, "identifiers": world.without_ip(p["identifiers"])} for p in players]
    return (
        server.recorded_bridge(),
        RawJSON(to_json({"players": players})),
        RawJSON(to_json({"players": hidden})),
    )


@event("getPlayers", permission="players.view", reply="players", snapshot=True)
async def get_players(request: Request) -> Reply:
    """The online players with identifiers and selected character (none while offline);
    ``ip:`` identifiers only for holders of players.ip."""
    client_id, with_ip, without_ip = await view.read("players", _bridge_and_players)
    players = with_ip if "players.ip" in request.permissions else without_ip
    if not client_id or not await get_hub().is_connected(client_id):
        return Reply("players", {"players": []})
    return Reply("players", players)


@event("getStats", permission="stats.view", reply="stats", snapshot=True)
async def get_stats(request: Request) -> Reply:
    """onlinePlayers, maxPlayers, uptime (seconds, of the game server), plus online/serverName."""
    state = await view.read("state", world.server_state)
    online = bool(
        state and state["bridge_client_id"] and await get_hub().is_connected(state["bridge_client_id"])
    )
    started = state["started_at"] if online else None
    return Reply(
        "stats",
        {
            "onlinePlayers": state["online_players"] if online else 0,
            "maxPlayers": state["max_players"] if state else 0,
            "uptime": max(0, int((timezone.now() - started).total_seconds())) if started else 0,
            "online": online,
            "serverName": state["name"] if state else "",
        },
    )


@event("getJobs", permission="jobs.view", reply="jobs", snapshot=True)
async def get_jobs(request: Request) -> Reply:
    """Every job with its grades."""
    return Reply("jobs", {"jobs": await db(jobs.all_jobs)()})


# -- commands the game server carries out -------------------------------------------------


async def _online_player(request: Request, action: str, source: int) -> tuple[str, dict]:
    """(the bridge, the player) for a command on ``source``; offline or unknown refused."""
    return await actions.online_player(actor_of(request), action, source, commands.summary(request.data))


@event("kickPlayer", permission="players.kick", schema=schemas.KickSchema, reply="success", rate="command")
async def kick_player(request: Request) -> Reply:
    """Have the game server drop a player; everyone gets playerKicked."""
    source, reason = request.data["source"], request.data["reason"]
    bridge_id, player = await _online_player(request, "player.kick", source)
    await commands.carry_out(
        actor_of(request), bridge_id, action="player.kick", target=commands.player_target(player),
        data={"source": source, "name": player["name"], "reason": reason},
        command="kickPlayer", payload={"source": source, "reason": reason},
    )
    await api.abroadcast("playerKicked", {"source": source, "reason": reason})
    return Reply("success", {"message": f"Player {source} kicked"})


@event("announce", permission="announce", schema=schemas.AnnounceSchema, reply="success", rate="command")
async def announce(request: Request) -> Reply:
    """Show a message to every player in the game; everyone gets announcement."""
    data = dict(request.data)
    bridge_id = await commands.require_bridge(actor_of(request), "announce", "all players", data)
    await commands.carry_out(
        actor_of(request), bridge_id, action="announce", target="all players", data=data,
        command="announce", payload=data,
    )
    await api.abroadcast("announcement", data)
    return Reply("success", {"message": "Announcement sent"})


# -- bans ---------------------------------------------------------------------------------


@event("banPlayer", permission="players.ban", schema=schemas.BanSchema, reply="success", rate="command")
async def ban_player(request: Request) -> Reply:
    """Ban an online player (by source: kicked now) or anyone (by identifiers)."""
    data = request.data
    ban, source = await actions.do_ban(
        actor_of(request), reason=data["reason"], expires_at=bans.expiry(data["duration"]),
        source=data.get("source"), identifiers=list(data["identifiers"].values()) if "identifiers" in data else None,
        name=data.get("name", ""), record=commands.summary(data),
    )
    who = f"Player {source}" if source is not None else (ban["name"] or ", ".join(ban["identifiers"]))
    return Reply("success", {"message": f"{who} banned", "ban": ban})


@event("unbanPlayer", permission="players.ban", schema=schemas.UnbanSchema, reply="success", rate="command")
async def unban_player(request: Request) -> Reply:
    """Lift a ban by its id."""
    ban = await actions.do_unban(actor_of(request), request.data["banId"])
    return Reply("success", {"message": f"Ban {ban['id']} lifted", "ban": ban})


@event("getBans", permission=("players.ban", "bans.view"), schema=schemas.GetBansSchema, reply="bans", snapshot=True)
async def get_bans(request: Request) -> Reply:
    """Bans, newest first: in force (default) or all; search by name, reason or identifier."""
    data = request.data
    return Reply("bans", {"bans": await db(bans.listing)(data["active"], data["search"], data["limit"])})


# -- jobs ---------------------------------------------------------------------------------


@event("createJob", permission="jobs.manage", schema=schemas.JobSchema, reply="success", rate="command")
async def create_job(request: Request) -> Reply:
    """A new job with its grades."""
    extra = await actions.do_create_job(actor_of(request), request.data)
    return Reply("success", {"message": f"Job {extra['job']['name']} created", **extra})


@event("updateJob", permission="jobs.manage", schema=schemas.JobUpdateSchema, reply="success", rate="command")
async def update_job(request: Request) -> Reply:
    """Change a job's label and/or replace its grades."""
    extra = await actions.do_update_job(actor_of(request), request.data)
    return Reply("success", {"message": f"Job {extra['job']['name']} updated", **extra})


@event("deleteJob", permission="jobs.manage", schema=schemas.JobNameSchema, reply="success", rate="command")
async def delete_job(request: Request) -> Reply:
    """Delete a job and its grades."""
    extra = await actions.do_delete_job(actor_of(request), request.data["name"])
    return Reply("success", {"message": f"Job {request.data['name']} deleted", **extra})


# -- audit --------------------------------------------------------------------------------


@event("getAuditLog", permission=ADMIN, schema=schemas.AuditLogSchema, reply="auditLog")
async def get_audit_log(request: Request) -> Reply:
    """The audit trail, newest first; page with ``before`` = the last page's ``nextBefore``."""
    data = request.data
    return Reply("auditLog", await db(audit.entries)(data["limit"], data.get("before"), data.get("action")))
