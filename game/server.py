"""Who the game server's bridge is, and whether it is online, as every process sees it.

The bridge's clientId is stored on the :class:`~game.models.GameServer` row; the bridge
is online while that client is connected to a live server process (realtime presence,
so the bridge of a SIGKILLed process counts offline once its heartbeat expires). Rules:

- ``serverSnapshot`` makes its sender the bridge (the newest bridge wins); a previous
  bridge still connected is told with ``bridgeReplaced``.
- A change event (``playerJoined`` ...) from a ``gameserver`` client while no bridge is
  online makes its sender the bridge, with an empty player list (it sent no snapshot).
- When the bridge's socket closes, its players are forgotten and ``gameServerStatus``
  ``{online: false}`` is broadcast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from accounts.permissions import GAMESERVER
from game import view
from game.models import GameServer, Player
from realtime import api
from realtime.hub import get_hub
from realtime.protocol import GameServerOffline
from realtime.registry import Request

T = TypeVar("T")

# Clients whose bridge role this process has already settled, so that a bridge's change
# events cost no lookup after its first one (playerJoined must stay one write).
_settled: set[str] = set()


def recorded_bridge() -> str | None:
    """The clientId stored as the bridge (connected or not), or None."""
    row = GameServer.objects.filter(pk=GameServer.SINGLETON).values_list("bridge_client_id").first()
    return row[0] if row and row[0] else None


async def online_bridge() -> str | None:
    """The clientId of the bridge when it is connected to a live process, else None."""
    client_id = await database_sync_to_async(recorded_bridge)()
    if client_id and await get_hub().is_connected(client_id):
        return client_id
    return None


async def require_bridge() -> str:
    """The online bridge's clientId, or :class:`GameServerOffline`."""
    client_id = await online_bridge()
    if client_id is None:
        raise GameServerOffline()
    return client_id


def claim(client_id: str, username: str) -> None:
    """Make ``client_id`` the bridge, with no players yet (it sent no snapshot)."""
    with transaction.atomic():
        GameServer.objects.update_or_create(
            pk=GameServer.SINGLETON,
            defaults={
                "bridge_client_id": client_id,
                "bridge_username": username or "",
                "connected_at": timezone.now(),
            },
        )
        Player.objects.all().delete()


async def report(request: Request, change: Callable[[], T]) -> T:
    """Apply a change report (synchronous ORM code) from a bridge; what ``change`` returns.

    When no bridge is online its sender becomes the bridge first, in the same
    transaction, so a refused report (an unknown source...) changes nothing at all.
    """
    client_id = request.client_id
    claiming = client_id not in _settled and await online_bridge() is None

    def run() -> T:
        if not claiming:
            return change()  # the usual case: no outer transaction, no savepoint
        with transaction.atomic():
            claim(client_id, request.username)
            return change()

    result = await database_sync_to_async(run)()
    _settled.add(client_id)
    return result


def settle(client_id: str) -> None:
    """Remember that ``client_id`` holds its bridge role (it sent a snapshot)."""
    _settled.add(client_id)


def release(client_id: str) -> bool:
    """Forget the bridge ``client_id`` and its players; False when it was not the bridge."""
    with transaction.atomic():
        released = GameServer.objects.filter(
            pk=GameServer.SINGLETON, bridge_client_id=client_id
        ).update(bridge_client_id="", started_at=None)
        if released:
            Player.objects.all().delete()
    return bool(released)


async def on_client_disconnected(
    sender: object, *, client_id: str, permissions: frozenset[str], **kwargs: object
) -> None:
    """realtime's client_disconnected: a closing bridge takes its players offline."""
    if client_id not in _settled and GAMESERVER not in permissions:
        return
    _settled.discard(client_id)
    if await database_sync_to_async(release)(client_id):
        await view.changed()
        await api.abroadcast("gameServerStatus", {"online": False})
