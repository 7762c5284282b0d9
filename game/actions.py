"""The admin actions on bans and jobs, one function each (the DESIGN's ``do_*`` style).

The socket's handlers (game/events.py) and Django admin (game/admin.py) both call these,
so a change made either way is validated, written in one transaction with its audit
entry, carried out in game (a ban of an online player kicks them over the bridge, a job
change is pushed) and broadcast once the transaction has committed. Async: Django admin
calls them through asgiref's ``async_to_sync`` (see :func:`run`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import transaction

from game import audit, bans, commands, jobs, server, world
from game.audit import Actor
from game.formats import iso
from game.models import AuditEntry, Ban, BanIdentifier, GameServer
from game.schemas import normal_identifiers
from realtime import api
from realtime.protocol import Conflict, InvalidPayload, NotFound

db = database_sync_to_async


def run(action: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """Call an action from synchronous code (Django admin), as realtime/api.py's sync exports do."""
    return async_to_sync(action)(*args, **kwargs)


def check_expected(player: dict, expect: dict | None, run_id: str) -> None:
    """:class:`Conflict` when the command names a player (``name``, ``license``) or a
    server run (``serverRunId``) that the player now at that source does not match."""
    expect = expect or {}
    source = player["source"]
    if expect.get("serverRunId") and expect["serverRunId"] != run_id:
        raise Conflict(
            f"The game server restarted since run {expect['serverRunId']}; player {source} "
            f"is now {player['name']!r}", source=source, serverRunId=run_id,
        )
    if expect.get("name") and expect["name"] != player["name"]:
        raise Conflict(
            f"Player {source} is {player['name']!r} now, not {expect['name']!r}",
            source=source, name=player["name"],
        )
    if expect.get("license") and expect["license"] != player.get("license"):
        raise Conflict(f"Player {source} is someone else now (another license)", source=source,
                       name=player["name"])


def _player_and_run(server_id: int, source: int) -> tuple[dict | None, str]:
    player = world.player_summary(server_id, source)
    run = GameServer.objects.filter(pk=server_id).values_list("run_id", flat=True).first()
    return player, run or ""


async def online_player(
    actor: Actor, action: str, source: int, record: dict, ref: server.Ref, expect: dict | None = None,
) -> tuple[str, dict]:
    """(the bridge, the player) for a command on ``source`` of server ``ref``; offline,
    unknown or no longer the player the command means (``expect``) refused, audited."""
    bridge_id = await commands.require_bridge(actor, action, f"player {source}", record, ref.id)
    player, run_id = await db(_player_and_run)(ref.id, source)
    try:
        if player is None:
            raise NotFound(f"No online player with source {source}")
        check_expected(player, expect, run_id)
    except (NotFound, Conflict) as error:
        if isinstance(error, Conflict):
            await db(audit.record)(actor, action, f"player {source}", record, AuditEntry.FAILED, error.message)
        raise
    return bridge_id, player


def expectation(data: dict) -> dict:
    """The ``name`` / ``license`` / ``serverRunId`` a command gave (see :func:`check_expected`)."""
    return {key: data[key] for key in ("name", "license", "serverRunId") if data.get(key)}


# -- bans ---------------------------------------------------------------------------------


async def do_ban(
    actor: Actor, *, reason: str, expires_at: datetime | None, source: int | None = None,
    identifiers: list[str] | None = None, name: str = "", record: dict | None = None,
    server_slug: str | None = None, scope: str = "all", expect: dict | None = None,
) -> tuple[dict, int | None]:
    """Ban an online player (by ``source``, on ``server_slug`` or the default server) or
    anyone (by ``identifiers``); (the ban, the source kicked or None). The ban holds on
    every game server, or (``scope="server"``) on that one only. An online player holding
    the identifiers is kicked by their game server first; with no game server online the
    ban is stored and refused at the next join."""
    record = record if record is not None else {}
    ref = await db(server.resolve)(server_slug)
    scoped = ref.id if scope == "server" else None
    if source is not None:
        bridge_id, player = await online_player(actor, "player.ban", source, record, ref, expect)
        holder = ref
    else:
        values = normal_identifiers(identifiers or ())
        if not values:
            raise InvalidPayload("A ban needs a source or at least one identifier")
        player, bridge_id, holder = None, None, ref
        # The first online holder whose game server is online is kicked by it (the
        # others, if any, are refused at their next join).
        for found in await db(world.find_online_by_identifiers)(values, scoped):
            bridge_id = await server.online_bridge(found["server_id"])
            if bridge_id is not None:
                player = found
                holder = next(r for r in await db(server.all_refs)() if r.id == found["server_id"])
                break
        if bridge_id is None:
            ban = await db(bans.ban_offline)(actor, values, name, reason, expires_at, record, scoped)
            await _announce_ban(ban, None, ref)
            return ban, None
    values = sorted(set(bans.bannable(player["identifiers"])) | set(normal_identifiers(identifiers or ())))
    _, ban = await commands.carry_out(
        actor, bridge_id, action="player.ban", target=commands.player_target(player),
        data={**record, "name": player["name"], "identifiers": values, "server": holder.slug},
        command="banPlayer",
        payload={"source": player["source"], "reason": reason, "expiresAt": iso(expires_at)},
        then=lambda: _store_ban(actor, values, player["name"], reason, expires_at, scoped),
    )
    await _announce_ban(ban, player["source"], holder)
    return ban, player["source"]


def _store_ban(actor, values, name, reason, expires_at, server_id) -> tuple[dict, dict]:  # noqa: ANN001
    ban = bans.create(actor, values, name, reason, expires_at, server_id)
    return {"banId": ban["id"]}, ban


async def _announce_ban(ban: dict, source: int | None, ref: server.Ref) -> None:
    # server: where the source is (the player kicked), or the server the request named.
    await api.abroadcast(
        "playerBanned",
        {"banId": ban["id"], "source": source, "name": ban["name"], "reason": ban["reason"],
         "expiresAt": ban["expiresAt"], "server": ref.slug, "scope": "server" if ban["server"] else "all"},
    )


async def do_unban(actor: Actor, ban_id: int) -> dict:
    """Lift a ban in force, audited; everyone gets playerUnbanned. The ban as it is now."""
    ban = await db(bans.lift)(actor, ban_id)
    await api.abroadcast("playerUnbanned", {"banId": ban["id"], "name": ban["name"], "server": ban["server"]})
    return ban


def _change_ban(actor: Actor, ban_id: int, changes: dict, identifiers: list[str] | None) -> dict:
    with transaction.atomic():
        ban = Ban.objects.select_for_update().filter(pk=ban_id).first()
        if ban is None:
            raise NotFound(f"No ban with id {ban_id}")
        for field, value in changes.items():
            setattr(ban, field, value)
        ban.save()
        if identifiers is not None:
            values = normal_identifiers(identifiers)
            if not values:
                raise InvalidPayload("A ban needs at least one identifier")
            ban.identifiers.exclude(value__in=values).delete()
            have = set(ban.identifiers.values_list("value", flat=True))
            BanIdentifier.objects.bulk_create([BanIdentifier(ban=ban, value=v) for v in values if v not in have])
        values = sorted(ban.identifiers.values_list("value", flat=True))
        audit.record(actor, "ban.change", ban.name or ", ".join(values),
                     {"banId": ban.pk, "changes": commands.summary({k: iso(v) if isinstance(v, datetime) else v
                                                                    for k, v in changes.items()}),
                      "identifiers": values}, AuditEntry.OK)
    return bans.as_dict(ban, values)


async def do_change_ban(actor: Actor, ban_id: int, changes: dict, identifiers: list[str] | None = None) -> dict:
    """Change a ban's name, reason, expiry (``changes``) and/or identifiers, audited."""
    return await db(_change_ban)(actor, ban_id, changes, identifiers)


def _delete_ban(actor: Actor, ban_id: int) -> None:
    with transaction.atomic():
        ban = Ban.objects.select_for_update().filter(pk=ban_id).first()
        if ban is None:
            raise NotFound(f"No ban with id {ban_id}")
        audit.record(actor, "ban.delete", ban.name or f"ban {ban_id}", {"banId": ban_id}, AuditEntry.OK)
        ban.delete()


async def do_delete_ban(actor: Actor, ban_id: int) -> None:
    """Delete a ban record (Django admin only), audited."""
    await db(_delete_ban)(actor, ban_id)


# -- jobs ---------------------------------------------------------------------------------


async def _job_changed(action: str, job: dict, entry: int) -> dict:
    return {"job": job, "pushed": await commands.job_changed(action, job, entry)}


async def do_create_job(actor: Actor, data: dict) -> dict:
    """A new job with its grades: saved, audited, pushed, broadcast; {job, pushed}."""
    job, entry = await db(jobs.create)(actor, dict(data))
    return await _job_changed("created", job, entry)


async def do_update_job(actor: Actor, data: dict) -> dict:
    """Change a job's label and/or replace its grades; {job, pushed}."""
    job, entry = await db(jobs.update)(actor, dict(data))
    return await _job_changed("updated", job, entry)


async def do_delete_job(actor: Actor, name: str) -> dict:
    """Delete a job and its grades; {job: {name}, pushed}."""
    entry = await db(jobs.delete)(actor, name)
    return await _job_changed("deleted", {"name": name}, entry)
