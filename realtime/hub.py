"""One fan-out hub per server process (per event loop).

Consumers do not listen on the channel layer themselves. The hub owns one channel per
process, joined to the ``ws.hubs`` group, and writes to its process's sockets directly:
a broadcast is encoded to JSON once, crosses the channel layer once per process and costs
no thread hop or decode per socket (Channels' per-consumer group dispatch measured about
40x slower than this on 1,000 clients; see DESIGN.md).

Messages between hubs (the ``type`` of a channel-layer message):
  hub.broadcast  {text, needs}                    every authenticated local socket allowed
                                                  (with history on, numbered by it: see
                                                  realtime/history.py)
  hub.send       {client_id, text}                one local socket
  hub.request    {client_id, text, request_id, reply_to}
                 a server-to-client request; the client's answer goes back to reply_to
  hub.reply      {request_id, message | gone}     the answer to hub.request
  hub.clients    {}                               an authenticated client came or went:
                 each hub pushes the list to its bridges (``connectedClients``)
Other apps add their own with :func:`hub_handler` (e.g. ``accounts.revoked``).

Without Redis (``REDIS_URL`` unset) the channel layer is in memory: it reaches only this
process, and a change committed by another one (``manage.py ws_revoke``, a shell) would
never arrive. The hub then also polls accounts' change feed (``accounts.AccessChange``,
every ``WS_ACCESS_FEED_POLL`` seconds, off the event loop) and hands what it finds to the
same ``accounts.revoked`` / ``accounts.changed`` handlers. With Redis the layer crosses
processes and the feed is neither written nor polled.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from accounts import signals as account_signals
from accounts.permissions import GAMESERVER
from realtime import history, presence
from realtime.limits import SocketCounts, UserBuckets
from realtime.frames import text_frame
from realtime.protocol import encode
from realtime.registry import audience, registry

if TYPE_CHECKING:
    from realtime.consumer import RealtimeConsumer

log = logging.getLogger(__name__)

HUB_GROUP = "ws.hubs"

HubHandler = Callable[["Hub", dict], Awaitable[None]]
_handlers: dict[str, HubHandler] = {}


def hub_handler(message_type: str) -> Callable[[HubHandler], HubHandler]:
    """Register a coroutine run by every hub that receives a message of ``message_type``."""

    def decorate(fn: HubHandler) -> HubHandler:
        _handlers[message_type] = fn
        return fn

    return decorate


BroadcastHook = Callable[["Hub", dict], None]
_before_broadcast: list[BroadcastHook] = []


def before_broadcast(fn: BroadcastHook) -> BroadcastHook:
    """Register ``fn(hub, message)``, run by every hub on each broadcast it receives,
    before any socket is sent it (e.g. to drop a memo the broadcast's change made stale)."""
    _before_broadcast.append(fn)
    return fn


def may_receive(consumer: RealtimeConsumer, message: dict) -> bool:
    """Whether an authenticated socket may receive broadcast ``message`` now: the rule of
    :func:`_broadcast`, for the replay of missed broadcasts (realtime/events.py)."""
    needs = message.get("needs")
    return not needs or not frozenset(needs).isdisjoint(consumer.permissions)


class ClientGone(Exception):
    """The client of a server-to-client request is not connected (or left before answering)."""


class Hub:
    """The sockets of this process and the channel-layer channel that reaches them."""

    def __init__(self) -> None:
        self.clients: dict[str, RealtimeConsumer] = {}
        self.channel: str | None = None
        self.layer = get_channel_layer()
        self.group = HUB_GROUP
        self.history = history.for_hub()  # None: broadcasts carry no position
        # Sockets replaying missed broadcasts (auth with since; consumer.held): few and
        # brief, so the fan-out loop itself pays nothing for them.
        self.recovering: set[RealtimeConsumer] = set()
        self.presence = presence.RedisPresence() if presence.uses_redis() else None
        self._pending: dict[str, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        self._started: asyncio.Future | None = None
        self.counts = SocketCounts()  # sockets per address / user, for the caps
        # Commands per user, across their sockets (and, with Redis, across processes).
        self.user_buckets = UserBuckets(shared=presence.uses_redis())
        # The connected-client list pushed to this process's bridges: one push task at a
        # time (a change during a push makes it go round once more), one lock so that a
        # bridge's first list and the task's never cross.
        self._clients_dirty = False
        self._clients_task: asyncio.Task | None = None
        self._clients_lock = asyncio.Lock()

    # -- life ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether :meth:`start` has finished."""
        return self._started is not None and self._started.done() and self._started.exception() is None

    async def start(self) -> None:
        """Open this process's channel and start listening (idempotent, concurrency-safe)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                self.channel = await self.layer.new_channel("hub.")
                await self.layer.group_add(HUB_GROUP, self.channel)
                lost = await self.presence.heartbeat(self.channel, []) if self.presence else []
                self._tasks = [
                    asyncio.create_task(self._listen(), name="realtime-hub-listen"),
                    asyncio.create_task(self._heartbeat(), name="realtime-hub-heartbeat"),
                ]
                if settings.WS_TOKEN_PURGE_INTERVAL > 0:
                    self._tasks.append(asyncio.create_task(self._purge_tokens(), name="realtime-hub-purge"))
                if lost:  # in a task: its receivers broadcast, which needs a started hub
                    self._tasks.append(asyncio.create_task(_expired(lost), name="realtime-hub-expired"))
                if self.history:
                    self._tasks += await self.history.start(self)
                if _polls_feed():
                    # From the newest change on: older ones were made before any socket here.
                    last = await database_sync_to_async(account_signals.latest_change)()
                    self._tasks.append(
                        asyncio.create_task(self._poll_feed(last), name="realtime-hub-feed")
                    )
                self._started.set_result(True)
            except BaseException as exc:
                self._started.set_exception(exc)
                started, self._started = self._started, None
                started.exception()  # consumed here; re-raised below
                raise
        await self._started

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self.layer.receive(self.channel)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the layer (Redis) failed; keep serving
                log.warning("hub: channel layer receive failed; retrying", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            try:
                await self._handle(message)
            except Exception:  # noqa: BLE001 - one bad message must not stop the hub
                log.exception("hub: handling %s failed", message.get("type"))

    async def _heartbeat(self) -> None:
        interval = max(settings.WS_PRESENCE_TTL / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            try:
                # Re-joining keeps the group alive past its expiry and after a Redis restart.
                await self.layer.group_add(HUB_GROUP, self.channel)
                if self.presence:
                    lost = await self.presence.heartbeat(self.channel, self.authenticated_ids())
                    if lost:
                        await _expired(lost)
                    # A process found dead takes its clients with it, with no message: the
                    # bridges' copy follows here (unchanged lists are not sent again).
                    self.clients_changed()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.warning("hub: heartbeat failed; retrying", exc_info=True)

    async def _purge_tokens(self) -> None:
        """Delete expired token-registry rows now and then (every process does it: the
        delete is idempotent, and a process that dies leaves no job half done)."""
        from accounts.tokens import purge_expired_tokens
        from realtime.tokens import parse_duration

        after = parse_duration(settings.WS_TOKEN_PURGE_AFTER)
        while True:
            await asyncio.sleep(settings.WS_TOKEN_PURGE_INTERVAL)
            try:
                purged = await database_sync_to_async(purge_expired_tokens)(after)
                if purged:
                    log.info("hub: purged %d expired token row(s)", purged)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database failed; try again next time
                log.warning("hub: purging expired tokens failed", exc_info=True)

    async def _poll_feed(self, last: int) -> None:
        """Act on the changes other processes committed (no Redis: see the module doc)."""
        interval = settings.WS_ACCESS_FEED_POLL
        loop = asyncio.get_running_loop()
        pruned = loop.time()
        while True:
            await asyncio.sleep(interval)
            try:
                last, user_ids, usernames, jtis = await database_sync_to_async(
                    account_signals.changes_after
                )(last)
                # The same messages a Redis layer would have brought, to the same handlers.
                if jtis:
                    await self._handle({"type": "accounts.revoked", "jtis": jtis})
                if user_ids or usernames:
                    await self._handle(
                        {"type": "accounts.changed", "user_ids": user_ids, "usernames": usernames}
                    )
                if loop.time() - pruned > 60:
                    pruned = loop.time()
                    await database_sync_to_async(account_signals.prune_feed)()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database failed; keep serving, retry
                log.warning("hub: reading the access change feed failed; retrying", exc_info=True)

    # -- local sockets ------------------------------------------------------------------

    def attach(self, consumer: RealtimeConsumer) -> None:
        self.clients[consumer.client_id] = consumer

    async def authenticated(self, consumer: RealtimeConsumer) -> None:
        """Record a socket's first successful auth in the shared presence."""
        if self.presence:
            await self.presence.add(self.channel, consumer.client_id, _who(consumer))
        await self._announce_clients()

    async def detach(self, consumer: RealtimeConsumer) -> None:
        self.clients.pop(consumer.client_id, None)
        if consumer.authenticated_once:
            if self.presence:
                try:
                    await self.presence.remove(self.channel, consumer.client_id)
                except Exception:  # noqa: BLE001 - the heartbeat prunes it later
                    log.warning("hub: presence remove failed", exc_info=True)
            await self._announce_clients()

    async def _announce_clients(self) -> None:
        try:
            await self.publish({"type": "hub.clients"})
        except Exception:  # noqa: BLE001 - the next heartbeat's pass catches up
            log.warning("hub: announcing a client change failed", exc_info=True)

    # -- the connected-client list, kept live in the bridges ------------------------------

    def bridges(self) -> list[RealtimeConsumer]:
        """This process's game-server bridges that hold a copy of the client list."""
        return self.local(
            lambda c: c.authenticated and c.pushed_clients is not None and GAMESERVER in c.permissions
        )

    async def sync_bridge(self, consumer: RealtimeConsumer) -> None:
        """Give a bridge that subscribed (``bridgeSync``) its first copy of the client list;
        from then on every change is pushed to it (``connectedClients``)."""
        async with self._clients_lock:
            ids = await self.connected_clients()
            consumer.pushed_clients = ids
            await consumer.send_event("connectedClients", {"clients": ids})

    def clients_changed(self) -> None:
        """A client came or went somewhere: push the list to this process's bridges."""
        self._clients_dirty = True
        if (self._clients_task is None or self._clients_task.done()) and self.bridges():
            self._clients_task = asyncio.ensure_future(self._push_clients())

    async def _push_clients(self) -> None:
        while self._clients_dirty:
            self._clients_dirty = False
            async with self._clients_lock:
                bridges = self.bridges()
                if not bridges:
                    return
                ids = await self.connected_clients()
                text = encode("connectedClients", {"clients": ids})
                for bridge in bridges:
                    if bridge.pushed_clients != ids:
                        bridge.pushed_clients = ids
                        await bridge.deliver(text)
            # A burst of connections costs a push per interval, not one per socket.
            await asyncio.sleep(settings.WS_CLIENT_LIST_PUSH_INTERVAL)

    def authenticated_ids(self) -> list[str]:
        return [cid for cid, c in self.clients.items() if c.authenticated]

    def local(self, predicate: Callable[[RealtimeConsumer], bool]) -> list[RealtimeConsumer]:
        """This process's sockets that match ``predicate``."""
        return [c for c in list(self.clients.values()) if predicate(c)]

    async def deliver_all(self, consumers: Iterable[RealtimeConsumer], text: str) -> None:
        """One frame to many sockets: framed once, written to each (see realtime.frames)."""
        frame = text_frame(text)
        for consumer in consumers:
            # A plain call per socket; only a socket that is closing, backed up or without
            # the flow extension (tests' in-process communicator) takes the awaited path.
            if not consumer.push_frame(frame):
                await consumer.deliver(text)

    # -- across processes ---------------------------------------------------------------

    async def publish(self, message: dict) -> None:
        """Send a hub message to every process's hub (this one included)."""
        await self.layer.group_send(HUB_GROUP, message)

    async def broadcast(self, event: str, data: Any, permission: str | Iterable[str] | None = None) -> None:
        """``{event, data}`` to every authenticated socket allowed to receive it: holders of
        ``permission`` (any one), else of what the event's declaration names, else all."""
        needs = audience(permission) if permission is not None else registry.audience(event)
        message = {"type": "hub.broadcast", "text": encode(event, data), "needs": sorted(needs) if needs else None}
        if self.history:
            await self.history.publish(self, message)
        else:
            await self.publish(message)

    def position(self) -> dict | None:
        """The position of the last broadcast this process delivered (None: positions off)."""
        return self.history.position() if self.history else None

    async def connected_clients(self) -> list[str]:
        if self.presence:
            return await self.presence.clients()
        return sorted(self.authenticated_ids())

    async def client_details(self) -> list[dict]:
        """Every connected client with its user and whether it is a game server's bridge
        (a client holding ``gameserver``), in every process."""
        if not self.presence:
            return [_details(cid, _who(self.clients[cid])) for cid in self.authenticated_ids()]
        ids = await self.presence.clients()
        return [_details(cid, who) for cid, who in zip(ids, await self.presence.who(ids))]

    async def _locate(self, client_id: str) -> str | None:
        local = self.clients.get(client_id)
        if local is not None and local.authenticated:
            return self.channel
        if self.presence:
            return await self.presence.locate(client_id)
        return None

    async def is_connected(self, client_id: str) -> bool:
        """Whether authenticated client ``client_id`` is connected to a live process."""
        return await self._locate(client_id) is not None

    async def send_to(self, client_id: str, event: str, data: Any) -> bool:
        """Send to one authenticated client wherever it is; False when it is not connected."""
        channel = await self._locate(client_id)
        if channel is None:
            return False
        text = encode(event, data)
        if channel == self.channel:
            await self.clients[client_id].deliver(text)
        else:
            await self.layer.send(
                channel, {"type": "hub.send", "client_id": client_id, "text": text}
            )
        return True

    async def request(self, client_id: str, event: str, data: Any, timeout: float) -> dict:
        """Send a request to a client and wait for its answer (the client's envelope).

        Raises :class:`ClientGone` when the client is not connected or leaves before
        answering, and ``asyncio.TimeoutError`` when it does not answer in time.
        """
        await self.start()
        channel = await self._locate(client_id)
        if channel is None:
            raise ClientGone(client_id)
        request_id = f"srv-{uuid.uuid4().hex}"
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message = {
            "type": "hub.request",
            "client_id": client_id,
            "text": encode(event, data, request_id),
            "request_id": request_id,
            "reply_to": self.channel,
        }
        try:
            if channel == self.channel:
                await self._handle(message)
            else:
                await self.layer.send(channel, message)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)

    async def route_reply(self, reply_to: str, request_id: str, reply: dict) -> None:
        """Hand a client's answer (or ``{"gone": True}``) to the hub that asked."""
        message = {"type": "hub.reply", "request_id": request_id, **reply}
        if reply_to == self.channel:
            await self._handle(message)
        else:
            await self.layer.send(reply_to, message)

    # -- receiving ----------------------------------------------------------------------

    async def handle(self, message: dict) -> None:
        """Run the hub handler of ``message`` (as if it had come over the channel layer)."""
        await self._handle(message)

    async def _handle(self, message: dict) -> None:
        handler = _handlers.get(message.get("type", ""))
        if handler is None:
            log.warning("hub: no handler for %r", message.get("type"))
            return
        await handler(self, message)


@hub_handler("hub.broadcast")
async def _broadcast(hub: Hub, message: dict) -> None:
    # Encoded once for everyone; filtered here by each socket's current permissions, so a
    # permissionsChanged takes effect at the next broadcast.
    for hook in _before_broadcast:
        try:
            hook(hub, message)
        except Exception:  # noqa: BLE001 - a hook's failure must not lose the broadcast
            log.exception("hub: before_broadcast hook %r failed", hook)
    needs = message.get("needs")
    if needs:
        wanted = frozenset(needs)
        receivers = hub.local(lambda c: c.authenticated and not wanted.isdisjoint(c.permissions))
    else:
        receivers = hub.local(lambda c: c.authenticated)
    if hub.history is None:
        await hub.deliver_all(receivers, message["text"])
        return
    text, offset = hub.history.received(message)  # with its position
    if hub.recovering:
        live = []
        for consumer in receivers:
            if consumer.held is not None:  # recovering: sent after its replay
                consumer.held.append((offset, text))
            else:
                live.append(consumer)
        receivers = live
    await hub.deliver_all(receivers, text)


@hub_handler("hub.clients")
async def _clients(hub: Hub, message: dict) -> None:
    hub.clients_changed()


@hub_handler("hub.send")
async def _send(hub: Hub, message: dict) -> None:
    consumer = hub.clients.get(message["client_id"])
    if consumer is not None and consumer.authenticated:
        await consumer.deliver(message["text"])


@hub_handler("hub.request")
async def _request(hub: Hub, message: dict) -> None:
    consumer = hub.clients.get(message["client_id"])
    if consumer is None or not consumer.authenticated:
        await hub.route_reply(message["reply_to"], message["request_id"], {"gone": True})
        return
    consumer.expect_reply(message["request_id"], message["reply_to"])
    await consumer.deliver(message["text"])


@hub_handler("hub.reply")
async def _reply(hub: Hub, message: dict) -> None:
    future = hub._pending.get(message["request_id"])
    if future is None or future.done():
        return
    if message.get("gone"):
        future.set_exception(ClientGone(message["request_id"]))
    else:
        future.set_result(message.get("message") or {})


async def _expired(client_ids: list[str]) -> None:
    """Tell other apps about the clients of a process found dead (realtime.signals)."""
    from realtime.signals import clients_expired

    for receiver, result in await clients_expired.asend_robust(sender=Hub, client_ids=client_ids):
        if isinstance(result, Exception):
            log.error("clients_expired receiver %r failed", receiver, exc_info=result)


def _polls_feed() -> bool:
    return account_signals.feed_enabled() and settings.WS_ACCESS_FEED_POLL > 0


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def _who(consumer: RealtimeConsumer) -> str:
    return f"{consumer.username or ''}\t{int('gameserver' in consumer.permissions)}"


def _details(client_id: str, who: str | None) -> dict:
    username, _, bridge = (who or "").partition("\t")
    return {"clientId": client_id, "username": username or None, "bridge": bridge == "1"}


def get_hub() -> Hub:
    """This event loop's hub (one per server process; tests get one per loop)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub
