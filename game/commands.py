"""Admin actions the game server carries out: one request over the bridge, audited.

The platform sends ``{event, data, requestId: "srv-..."}`` to the bridge socket (in
whichever process it is connected) and waits for ``{event: "commandResult", data: {ok,
message?}, requestId}``. Every attempt is in the audit trail: pending while waiting, then
``ok`` with the game server's message or ``failed`` with the reason (offline, refused,
no answer in time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

from game import audit, jobs, server
from game.audit import Actor
from game.models import AuditEntry
from realtime import api
from realtime.hub import ClientGone, get_hub
from realtime.protocol import CommandFailed, GameServerOffline, ProtocolError


async def require_bridge(actor: Actor, action: str, target: str, data: dict, server_id: int) -> str:
    """The server's online bridge's clientId; when offline the attempt is audited as failed."""
    try:
        return await server.require_bridge(server_id)
    except GameServerOffline as error:
        await database_sync_to_async(audit.record)(
            actor, action, target, data, AuditEntry.FAILED, error.message
        )
        raise


def read_result(answer: dict) -> tuple[bool, str]:
    """(ok, message) from the bridge's answering envelope."""
    data = answer.get("data")
    if answer.get("event") == "error" and isinstance(data, dict):
        return False, str(data.get("message") or "error")
    if answer.get("event") != "commandResult" or not isinstance(data, dict):
        return False, f"unexpected answer {str(answer.get('event'))[:64]!r}"
    ok = data.get("ok") is True
    message = data.get("message")
    return ok, (message if isinstance(message, str) else "")[:500]


async def carry_out(
    actor: Actor,
    bridge: str,
    *,
    action: str,
    target: str,
    data: dict,
    command: str,
    payload: dict,
    then: Callable[[], tuple[dict, Any]] | None = None,
) -> tuple[str, Any]:
    """Have the game server run ``command``; (its message, the result of ``then``).

    ``then`` (synchronous ORM code) runs only on success, in the transaction that marks
    the audit entry ok, and returns (data to add to the entry, result). Failures raise
    :class:`GameServerOffline` or :class:`CommandFailed` after being audited. Shielded:
    an admin who disconnects meanwhile does not leave the entry pending.
    """
    return await asyncio.shield(
        _carry_out(actor, bridge, action, target, data, command, payload, then)
    )


async def ask(bridge: str, command: str, payload: dict) -> tuple[ProtocolError | None, str]:
    """Send one command to the bridge; (the error, or None when it answered ok; its message)."""
    timeout = settings.WS_COMMAND_TIMEOUT
    try:
        answer = await get_hub().request(bridge, command, payload, timeout=timeout)
    except ClientGone:
        return GameServerOffline("The game server went offline before answering"), ""
    except asyncio.TimeoutError:
        return CommandFailed(f"The game server did not answer {command} within {timeout:g}s"), ""
    ok, message = read_result(answer)
    if not ok:
        return CommandFailed(f"The game server refused {command}: {message or 'no reason given'}"), message
    return None, message


async def _carry_out(actor, bridge, action, target, data, command, payload, then):  # noqa: ANN001, ANN202
    entry = await database_sync_to_async(audit.start)(actor, action, target, data)
    error, message = await ask(bridge, command, payload)
    if error is not None:
        await database_sync_to_async(audit.finish)(entry, AuditEntry.FAILED, error.message)
        raise error

    def succeed() -> Any:
        with transaction.atomic():
            extra, result = then() if then else ({}, None)
            audit.finish(entry, AuditEntry.OK, message, **extra)
        return result

    return message, await database_sync_to_async(succeed)()


async def push_jobs(entry: int) -> bool:
    """Send every job to every game server after a job change (one catalogue for all),
    finishing its audit entry.

    The change is saved whatever happens here (the database is the jobs' source of truth;
    a bridge gets them again with every snapshot); whether it reached each game server is
    the entry's detail. True when every game server confirmed.
    """
    return await asyncio.shield(_push_jobs(entry))


async def _push_one(ref: server.Ref, catalogue: list[dict]) -> tuple[bool, str]:
    bridge = await server.online_bridge(ref.id)
    if bridge is None:
        return False, "offline: gets the jobs when it reconnects"
    error, message = await ask(bridge, "jobsChanged", {"jobs": catalogue})
    if error is not None:
        return False, f"not pushed: {error.message}"
    return True, "pushed" + (f": {message}" if message else "")


async def _push_jobs(entry: int) -> bool:
    refs = await database_sync_to_async(server.all_refs)()
    catalogue = await database_sync_to_async(jobs.all_jobs)()
    results = await asyncio.gather(*(_push_one(ref, catalogue) for ref in refs))
    pushed = all(ok for ok, _ in results)
    if len(refs) == 1:  # the one-server wording, as before
        ok, how = results[0]
        detail = ("saved and pushed to the game server" + how[len("pushed"):] if ok
                  else "saved; the game server is offline and gets the jobs when it reconnects"
                  if how.startswith("offline") else f"saved; {how}")
    else:
        detail = "saved; " + "; ".join(f"{ref.slug}: {how}" for ref, (_, how) in zip(refs, results))
    await database_sync_to_async(audit.finish)(entry, AuditEntry.OK, detail, pushed=pushed)
    return pushed


async def job_changed(action: str, job: dict, entry: int) -> bool:
    """After a job change: push every job to the game server, broadcast jobsChanged."""
    pushed = await push_jobs(entry)
    await api.abroadcast("jobsChanged", {"action": action, "job": job})
    return pushed


def player_target(player: dict) -> str:
    """How the audit trail names a player: ``player 5 Nova42 (license:abc)``."""
    license_ = player.get("license") or ""
    return f"player {player['source']} {player['name']}" + (f" ({license_})" if license_ else "")


def summary(value: Any) -> Any:
    """A JSON-safe copy of validated data for the audit trail."""
    if isinstance(value, dict):
        return {k: summary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [summary(v) for v in value]
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return value
