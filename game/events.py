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
from realtime.protocol import CommandFailed, GameServerOffline, RawJSON, to_json
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


def _bridge_and_players(server_id: int) -> tuple[str | None, RawJSON, RawJSON]:
    # Encoded here, off the event loop and once per change of the world, not per request:
    # with ip: identifiers (for players.ip holders) and without (everyone else).
    players = world.players(server_id)
    hidden = [{**p, "identifiers": world.without_ip(p["identifiers"])} for p in players]
    return (
        server.recorded_bridge(server_id),
        RawJSON(to_json({"players": players})),
        RawJSON(to_json({"players": hidden})),
    )


@event("getPlayers", permission="players.view", schema=schemas.ServerSchema, reply="players", http="GET /players",
       snapshot=True)
async def get_players(request: Request) -> Reply:
    """The online players with identifiers and selected character (none while offline);
    ``ip:`` identifiers only for holders of players.ip."""
    ref = await server.target(request)
    client_id, with_ip, without_ip = await view.read(f"players:{ref.id}", lambda: _bridge_and_players(ref.id))
    players = with_ip if "players.ip" in request.permissions else without_ip
    if not client_id or not await get_hub().is_connected(client_id):
        return Reply("players", {"players": []})
    return Reply("players", players)


async def _stats(state: dict) -> dict:
    online = bool(state["bridge_client_id"] and await get_hub().is_connected(state["bridge_client_id"]))
    started = state["started_at"] if online else None
    return {
        "onlinePlayers": state["online_players"] if online else 0,
        "maxPlayers": state["max_players"],
        "uptime": max(0, int((timezone.now() - started).total_seconds())) if started else 0,
        "online": online,
        "serverName": state["reported_name"] or state["name"],
        "server": state["slug"],
        "serverRunId": state["run_id"] if online else None,
    }


@event("getStats", permission="stats.view", schema=schemas.ServerSchema, reply="stats", http="GET /stats",
       snapshot=True)
async def get_stats(request: Request) -> Reply:
    """onlinePlayers, maxPlayers, uptime (seconds, of the game server), plus online,
    serverName, server and serverRunId (the bridge session's id, for commands)."""
    ref = await server.target(request)
    state = await view.read(f"state:{ref.id}", lambda: world.server_state(ref.id))
    return Reply("stats", await _stats(state))


@event("getServers", permission="stats.view", reply="servers", http="GET /servers", snapshot=True)
async def get_servers(request: Request) -> Reply:
    """Every game server: slug, name, online, players, maxPlayers, uptime, default."""
    await db(server.default_server)()
    states = await view.read("servers", world.server_states)
    servers = []
    for state in states:
        stats = await _stats(state)
        servers.append({
            "slug": state["slug"], "name": state["name"] or state["reported_name"] or state["slug"],
            "online": stats["online"], "players": stats["onlinePlayers"], "maxPlayers": stats["maxPlayers"],
            "uptime": stats["uptime"], "default": state["is_default"], "serverName": stats["serverName"],
        })
    return Reply("servers", {"servers": servers})


@event("getJobs", permission="jobs.view", schema=schemas.GetJobsSchema, reply="jobs", http="GET /jobs",
       snapshot=True)
async def get_jobs(request: Request) -> Reply:
    """Every job with its grades (the spec's reply), or with ``limit`` one page of them and
    ``next``, the cursor of the following page (null on the last)."""
    if "limit" not in request.data:
        return Reply("jobs", {"jobs": await db(jobs.all_jobs)()})
    page, following = await db(jobs.page_of_jobs)(request.data["limit"], request.data["after"])
    return Reply("jobs", {"jobs": page, "next": following})


# -- commands the game server carries out -------------------------------------------------


@event("kickPlayer", permission="players.kick", schema=schemas.KickSchema, reply="success", rate="command",
       http="POST /players/{source}/kick")
async def kick_player(request: Request) -> Reply:
    """Have the game server drop a player; everyone gets playerKicked."""
    source, reason = request.data["source"], request.data["reason"]
    ref = await server.target(request)
    bridge_id, player = await actions.online_player(
        actor_of(request), "player.kick", source, commands.summary(request.data), ref,
        actions.expectation(request.data),
    )
    await commands.carry_out(
        actor_of(request), bridge_id, action="player.kick", target=commands.player_target(player),
        data={"source": source, "name": player["name"], "reason": reason, "server": ref.slug},
        command="kickPlayer", payload={"source": source, "reason": reason},
    )
    await api.abroadcast("playerKicked", {"source": source, "reason": reason, "server": ref.slug})
    return Reply("success", {"message": f"Player {source} kicked"})


async def _announce_on(request: Request, ref: server.Ref, data: dict) -> None:
    bridge_id = await commands.require_bridge(actor_of(request), "announce", "all players", data, ref.id)
    await commands.carry_out(
        actor_of(request), bridge_id, action="announce", target=f"all players on {ref.slug}",
        data={**data, "server": ref.slug}, command="announce", payload=data,
    )


@event("announce", permission="announce", schema=schemas.AnnounceSchema, reply="success", rate="command",
       http="POST /announcements")
async def announce(request: Request) -> Reply:
    """Show a message to every player of a game server (``server``: a slug, or ``"*"``:
    every server online); everyone gets announcement."""
    data = dict(request.data)
    slug = data.pop("server", None)
    if slug != server.ALL:
        ref = await server.target(request)
        await _announce_on(request, ref, data)
        await api.abroadcast("announcement", {**data, "server": ref.slug})
        return Reply("success", {"message": "Announcement sent"})
    sent, failed = [], []
    for ref in await db(server.all_refs)():
        try:
            await _announce_on(request, ref, data)
            sent.append(ref.slug)
        except (GameServerOffline, CommandFailed) as error:
            failed.append({"server": ref.slug, "code": error.code, "message": error.message})
    if not sent:
        raise GameServerOffline("No game server is online to announce to", failed=failed)
    await api.abroadcast("announcement", {**data, "server": server.ALL, "servers": sent})
    return Reply("success", {"message": f"Announcement sent to {len(sent)} server(s)", "servers": sent,
                             "failed": failed})


# -- bans ---------------------------------------------------------------------------------


@event("banPlayer", permission="players.ban", schema=schemas.BanSchema, reply="success", rate="command",
       http="POST /bans")
async def ban_player(request: Request) -> Reply:
    """Ban an online player (by source: kicked now) or anyone (by identifiers)."""
    data = request.data
    ban, source = await actions.do_ban(
        actor_of(request), reason=data["reason"], expires_at=bans.expiry(data["duration"]),
        source=data.get("source"), identifiers=list(data["identifiers"].values()) if "identifiers" in data else None,
        name=data.get("name", ""), record=commands.summary(data), server_slug=data.get("server"),
        scope=data["scope"], expect=actions.expectation(data) if "source" in data else None,
    )
    who = f"Player {source}" if source is not None else (ban["name"] or ", ".join(ban["identifiers"]))
    return Reply("success", {"message": f"{who} banned", "ban": ban})


@event("unbanPlayer", permission="players.ban", schema=schemas.UnbanSchema, reply="success", rate="command",
       http="POST /bans/{banId}/unban")
async def unban_player(request: Request) -> Reply:
    """Lift a ban by its id."""
    ban = await actions.do_unban(actor_of(request), request.data["banId"])
    return Reply("success", {"message": f"Ban {ban['id']} lifted", "ban": ban})


@event("getBans", permission=("players.ban", "bans.view"), schema=schemas.GetBansSchema, reply="bans",
       http="GET /bans", snapshot=True)
async def get_bans(request: Request) -> Reply:
    """Bans, newest first: in force (default) or all; search by name, reason or identifier."""
    data = request.data
    ref = await server.target(request) if data.get("server") else None
    rows = await db(bans.listing)(data["active"], data["search"], data["limit"], ref.id if ref else None)
    return Reply("bans", {"bans": rows})


# -- jobs ---------------------------------------------------------------------------------


@event("createJob", permission="jobs.manage", schema=schemas.JobSchema, reply="success", rate="command",
       http="POST /jobs")
async def create_job(request: Request) -> Reply:
    """A new job with its grades."""
    extra = await actions.do_create_job(actor_of(request), request.data)
    return Reply("success", {"message": f"Job {extra['job']['name']} created", **extra})


@event("updateJob", permission="jobs.manage", schema=schemas.JobUpdateSchema, reply="success", rate="command",
       http="PATCH /jobs/{name}")
async def update_job(request: Request) -> Reply:
    """Change a job's label and/or replace its grades."""
    extra = await actions.do_update_job(actor_of(request), request.data)
    return Reply("success", {"message": f"Job {extra['job']['name']} updated", **extra})


@event("deleteJob", permission="jobs.manage", schema=schemas.JobNameSchema, reply="success", rate="command",
       http="DELETE /jobs/{name}")
async def delete_job(request: Request) -> Reply:
    """Delete a job and its grades."""
    extra = await actions.do_delete_job(actor_of(request), request.data["name"])
    return Reply("success", {"message": f"Job {request.data['name']} deleted", **extra})


# -- audit --------------------------------------------------------------------------------


@event("getAuditLog", permission=ADMIN, schema=schemas.AuditLogSchema, reply="auditLog", http="GET /audit")
async def get_audit_log(request: Request) -> Reply:
    """The audit trail, newest first; page with ``before`` = the last page's ``nextBefore``."""
    data = request.data
    return Reply("auditLog", await db(audit.entries)(data["limit"], data.get("before"), data.get("action")))
