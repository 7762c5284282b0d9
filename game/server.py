"""The game servers: which one a request means, which one a bridge speaks for, and
whether it is online, as every process sees it.

A bridge's server comes from its token's account (``GameServer.account``), never from
what the bridge says: one bridge cannot report or act for another server. An account
holding ``gameserver`` that no server names speaks for the default server while that one
has no account of its own (the one-server setup of the spec, a ``gameserver`` user made
by hand).

The bridge's clientId is stored on its :class:`~game.models.GameServer` row; the bridge
is online while that client is connected to a live server process (realtime presence).
Rules, per server:

- ``serverSnapshot`` makes its sender the bridge (the newest bridge wins); a previous
  bridge still connected is told with ``bridgeReplaced`` and closed (4011).
- A change event (``playerJoined`` ...) from a bridge while its server has no bridge
  online makes its sender the bridge, with an empty player list (it sent no snapshot).
- When the bridge goes away (its socket closes, or its process dies and its presence
  expires), each of its players gets ``playerLeft`` (reason :data:`OFFLINE_REASON`),
  then ``gameServerStatus {online: false}`` is broadcast.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.permissions import GAMESERVER
from game import view
from game.models import GameServer, Player
from realtime import api, protocol
from realtime.hub import Hub, get_hub, hub_handler
from realtime.protocol import GameServerOffline, NotFound, PermissionDenied
from realtime.registry import Request

T = TypeVar("T")

DEFAULT_SLUG = "main"
OFFLINE_REASON = "Game server offline"
SNAPSHOT_REASON = "Not in the game server's snapshot"
ALL = "*"  # data.server of an announce to every server


@dataclass(frozen=True)
class Ref:
    """A game server as handlers pass it around: its id and slug."""

    id: int
    slug: str


# -- which server ---------------------------------------------------------------------


def default_server() -> GameServer:
    """The default game server; ``main`` is created when there is no server at all."""
    server = GameServer.objects.filter(is_default=True).first() or GameServer.objects.first()
    if server is not None:
        return server
    try:
        with transaction.atomic():
            return GameServer.objects.create(slug=DEFAULT_SLUG, is_default=True)
    except IntegrityError:  # another process created it meanwhile
        return GameServer.objects.get(slug=DEFAULT_SLUG)


def resolve(slug: str | None) -> Ref:
    """The server a request names (``data.server``), or the default; :class:`NotFound`."""
    if slug is None:
        server = default_server()
        return Ref(server.pk, server.slug)
    row = GameServer.objects.filter(slug=slug).values_list("id", "slug").first()
    if row is None:
        raise NotFound(f"No game server {slug!r}", server=slug)
    return Ref(*row)


def all_refs() -> list[Ref]:
    """Every game server (the default one created when there is none)."""
    default_server()
    return [Ref(*row) for row in GameServer.objects.values_list("id", "slug")]


# slug (None: the default) -> (when, Ref), per hub: which server a request means costs no
# query while the servers do not change (added, removed, default moved: servers_changed()).
_refs: weakref.WeakKeyDictionary[Hub, dict[str | None, tuple[float, Ref]]] = weakref.WeakKeyDictionary()
REF_TTL = 5.0  # seconds, in case a servers_changed message was lost (no Redis, another process)


async def target(request: Request) -> Ref:
    """The game server an admin request is for (its ``data.server``, else the default)."""
    data = request.data if isinstance(request.data, dict) else {}
    slug = data.get("server")
    memo = _refs.setdefault(get_hub(), {})
    hit = memo.get(slug)
    now = time.monotonic()
    if hit is not None and now - hit[0] < REF_TTL:
        return hit[1]
    ref = await database_sync_to_async(resolve)(slug)
    memo[slug] = (now, ref)
    return ref


def servers_changed() -> None:
    """A server was added, removed or made the default (sync code): every process forgets
    which server a slug means. Reaches other processes through Redis; else REF_TTL."""

    async def publish() -> None:
        await get_hub().publish({"type": "game.servers_changed"})

    async_to_sync(publish)()


@hub_handler("game.servers_changed")
async def _on_servers_changed(hub: Hub, message: dict) -> None:
    _refs.pop(hub, None)
    view_ = view.current()
    view_.invalidate()


def server_of_account(user_id: int | None) -> Ref | None:
    """The server whose bridge account ``user_id`` is (see the module doc), or None."""
    row = GameServer.objects.filter(account_id=user_id).values_list("id", "slug").first() if user_id else None
    if row is not None:
        return Ref(*row)
    server = default_server()
    return Ref(server.pk, server.slug) if server.account_id is None else None


# Bridge clients of this process -> their server, so that a bridge's reports cost no
# lookup after its first one (playerJoined must stay one write).
_bridges: dict[str, Ref] = {}
# Bridges whose role this process has settled (sent a snapshot, or claimed).
_settled: set[str] = set()


async def bridge_server(request: Request) -> Ref:
    """The server a bridge's report is about (from its account); :class:`PermissionDenied`."""
    ref = _bridges.get(request.client_id)
    if ref is None:
        ref = await database_sync_to_async(server_of_account)(request.connection.user_id)
        if ref is None:
            raise PermissionDenied(
                f"Account {request.username!r} is not the bridge of any game server "
                "(manage.py game_server token SLUG makes a bridge token)"
            )
        _bridges[request.client_id] = ref
    return ref


# -- online -----------------------------------------------------------------------------


def recorded_bridge(server_id: int) -> str | None:
    """The clientId stored as the server's bridge (connected or not), or None."""
    row = GameServer.objects.filter(pk=server_id).values_list("bridge_client_id").first()
    return row[0] if row and row[0] else None


async def online_bridge(server_id: int) -> str | None:
    """The clientId of the server's bridge when it is connected to a live process, else None."""
    client_id = await database_sync_to_async(recorded_bridge)(server_id)
    if client_id and await get_hub().is_connected(client_id):
        return client_id
    return None


async def require_bridge(server_id: int) -> str:
    """The server's online bridge's clientId, or :class:`GameServerOffline`."""
    client_id = await online_bridge(server_id)
    if client_id is None:
        raise GameServerOffline()
    return client_id


def claim(server_id: int, client_id: str, username: str) -> None:
    """Make ``client_id`` the server's bridge, with no players yet (it sent no snapshot)."""
    import uuid

    with transaction.atomic():
        GameServer.objects.filter(pk=server_id).update(
            bridge_client_id=client_id, bridge_username=username or "", connected_at=timezone.now(),
            run_id=uuid.uuid4().hex,
        )
        Player.objects.filter(server_id=server_id).delete()


async def report(request: Request, change: Callable[[Ref], T]) -> tuple[Ref, T]:
    """Apply a change report (synchronous ORM code given the server) from a bridge;
    (its server, what ``change`` returns).

    When the server has no bridge online its sender becomes the bridge first, in the same
    transaction, so a refused report (an unknown source...) changes nothing at all.
    """
    ref = await bridge_server(request)
    client_id = request.client_id
    claiming = client_id not in _settled and await online_bridge(ref.id) is None

    def run() -> T:
        if not claiming:
            return change(ref)  # the usual case: no outer transaction, no savepoint
        with transaction.atomic():
            claim(ref.id, client_id, request.username)
            return change(ref)

    result = await database_sync_to_async(run)()
    _settled.add(client_id)
    return ref, result


def settle(client_id: str) -> None:
    """Remember that ``client_id`` holds its bridge role (it sent a snapshot)."""
    _settled.add(client_id)


# -- going away -------------------------------------------------------------------------


def release(client_ids: list[str]) -> list[tuple[Ref, list[dict]]]:
    """Forget the servers whose bridge is one of ``client_ids``, and their players:
    [(server, the players clients were told of)]. A server already released by another
    process (or taken by a newer bridge) is not in the list."""
    released = []
    with transaction.atomic():
        for server in GameServer.objects.select_for_update().filter(bridge_client_id__in=client_ids):
            players = list(
                Player.objects.filter(server=server).order_by("source").values("source", "name")
            )
            Player.objects.filter(server=server).delete()
            GameServer.objects.filter(pk=server.pk).update(bridge_client_id="", started_at=None)
            released.append((Ref(server.pk, server.slug), players))
    return released


async def went_offline(client_ids: list[str]) -> None:
    """These bridges are gone: their players leave, then their servers are offline."""
    released = await database_sync_to_async(release)(client_ids)
    if not released:
        return
    await view.changed()
    for ref, players in released:
        await tell_gone(ref, players)


async def tell_gone(ref: Ref, players: list[dict]) -> None:
    """A server's players left (a playerLeft each), then it is offline."""
    for player in players:
        await api.abroadcast("playerLeft", {**player, "reason": OFFLINE_REASON, "server": ref.slug})
    await api.abroadcast("gameServerStatus", {"online": False, "server": ref.slug})


async def on_client_disconnected(
    sender: object, *, client_id: str, permissions: frozenset[str], **kwargs: object
) -> None:
    """realtime's client_disconnected: a closing bridge takes its players offline."""
    _bridges.pop(client_id, None)
    if client_id not in _settled and GAMESERVER not in permissions:
        return
    _settled.discard(client_id)
    await went_offline([client_id])


async def on_clients_expired(sender: object, *, client_ids: list[str], **kwargs: object) -> None:
    """realtime's clients_expired: bridges of a dead process count as gone."""
    await went_offline(list(client_ids))


# -- replaced ---------------------------------------------------------------------------


async def replace(previous: str, newer: str) -> None:
    """Tell the previous bridge of a server it was replaced, and close it (wherever it is)."""
    await get_hub().publish({"type": "game.bridge_replaced", "client_id": previous, "by": newer})


@hub_handler("game.bridge_replaced")
async def _on_bridge_replaced(hub: Hub, message: dict) -> None:
    consumer = hub.clients.get(message["client_id"])
    if consumer is None or not consumer.authenticated:
        return
    _settled.discard(consumer.client_id)  # its close must not take the newer bridge's players
    await consumer.deliver(protocol.encode("bridgeReplaced", {"clientId": message["by"]}))
    await consumer.close_with(protocol.CLOSE_BRIDGE_REPLACED)
