"""The socket: one consumer per connection, speaking the spec's protocol.

The consumer parses the envelope, looks the event up in the registry, checks
authentication and permission before any handler runs (failing closed), validates the
payload and turns every :class:`ProtocolError` into an ``error`` frame that echoes the
request's ``requestId``. It keeps no channel-layer channel of its own: the process's hub
writes broadcasts to it directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import InterfaceError, OperationalError

from realtime import idempotency, protocol
from realtime.hub import get_hub
from realtime.limits import ConnectionLimiter, Verdict
from realtime.protocol import (
    FrameTooLarge,
    InternalError,
    InvalidMessage,
    NotAuthenticated,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ServiceUnavailable,
    TooManySockets,
    UnknownEvent,
)
from realtime.registry import EventSpec, Reply, Request, registry
from realtime.signals import client_disconnected

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 32  # concurrent requests per socket; more wait until one finishes
# After a slow consumer's close frame, how long it has to read it before the drop.
SLOW_CONSUMER_GRACE = 1.0


class RealtimeConsumer(AsyncWebsocketConsumer):
    """One WebSocket client of the platform."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_id = str(uuid.uuid4())
        self.authenticated = False
        self.authenticated_once = False
        self.username: str | None = None
        self.user_id: int | None = None
        self.permissions: frozenset[str] = frozenset()
        self.token_permissions: list[str] = []
        self.token_jti: str | None = None
        # The other user who minted this socket's token, when one did (set at auth): their
        # changes re-evaluate this socket too (realtime.access).
        self.token_issuer_id: int | None = None
        self.token_issuer: str | None = None
        self.token_exp: float | None = None
        # A bridge's (gameserver) copy of the connected-client list, as last pushed to it;
        # None until it subscribes (bridgeSync; realtime.hub.Hub.sync_bridge).
        self.pushed_clients: list[str] | None = None
        # The kid of the signing key last given to a bridge (None: told it has none; "": not
        # subscribed, bridgeSync). Never the key itself (realtime.bridgekeys).
        self.signing_kid: str | None = ""
        self.connected_at = time.time()
        self.closed = False
        self._in_flight: set[asyncio.Task] = set()
        self._awaiting: dict[str, str] = {}  # server-to-client request id -> reply_to channel
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._ordered = asyncio.Lock()  # serialises this socket's ordered=True events
        # While auth replays missed broadcasts (``since``): the live ones that arrive
        # meanwhile, as (offset, text), sent after the replay. None otherwise.
        self.held: list[tuple[int | None, str]] | None = None
        self.hub = None
        self.address = ""
        self.limiter: ConnectionLimiter | None = None
        self.last_heard = time.monotonic()
        self._counted: tuple[str, Any] | None = None  # (kind, key) in hub.counts
        # The server's flow extension (realtime/servers.py): bytes the transport holds.
        self._buffered = None
        self._abort = None
        self._send_frame = None
        self.max_outbound = 0

    # Channels' AsyncConsumer.__call__ gives every consumer its own channel-layer channel
    # and closes old DB connections around every frame (a thread hop each). The hub does
    # the channel work for the whole process and handlers reach the database through
    # database_sync_to_async, which closes old connections itself; so neither is needed.
    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            await self._cleanup()

    async def dispatch(self, message: dict) -> None:
        kind = message["type"]
        if kind == "websocket.receive":
            await self.websocket_receive(message)
        elif kind == "websocket.connect":
            await self.websocket_connect(message)
        elif kind == "websocket.disconnect":
            await self.websocket_disconnect(message)

    # -- life ---------------------------------------------------------------------------

    async def connect(self) -> None:
        self.hub = get_hub()
        # scope["client"] is the peer, or the forwarded client behind a trusted proxy.
        self.address = (self.scope.get("client") or ["unix"])[0]
        if not self.hub.counts.add("address", self.address, settings.WS_MAX_SOCKETS_PER_ADDRESS):
            log.warning("socket refused: %s has too many sockets awaiting auth", self.address)
            self.closed = True
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        self._counted = ("address", self.address)
        self.limiter = ConnectionLimiter.from_settings()
        flow = (self.scope.get("extensions") or {}).get("realtime.flow")
        if flow is not None:
            self._buffered, self._abort = flow["buffered"], flow["abort"]
            self._send_frame = flow.get("send_frame")
            self.max_outbound = settings.WS_MAX_OUTBOUND_BYTES
        await self.hub.start()
        await self.accept()
        self.hub.attach(self)
        await self.send_event("connected", {"clientId": self.client_id})
        self.set_timer("auth", settings.WS_AUTH_TIMEOUT, self._auth_timeout)

    async def disconnect(self, code: int) -> None:
        self.closed = True

    async def _cleanup(self) -> None:
        self.closed = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._in_flight):
            task.cancel()
        if self.hub is not None:
            if self._counted is not None:
                self.hub.counts.remove(*self._counted)
                self._counted = None
            await self.hub.detach(self)
            for request_id, reply_to in list(self._awaiting.items()):
                await self.hub.route_reply(reply_to, request_id, {"gone": True})
            self._awaiting.clear()
        if self.authenticated_once:
            await self._announce_disconnect()

    async def _announce_disconnect(self) -> None:
        results = await client_disconnected.asend_robust(
            sender=type(self),
            client_id=self.client_id,
            username=self.username,
            user_id=self.user_id,
            permissions=self.permissions,
        )
        for receiver, result in results:
            if isinstance(result, Exception):
                log.error("client_disconnected receiver %r failed", receiver, exc_info=result)

    def set_timer(self, name: str, delay: float, callback) -> None:  # noqa: ANN001
        """Run ``callback`` (a coroutine function) after ``delay`` s, replacing ``name``."""
        self.cancel_timer(name)
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(
            max(delay, 0), lambda: self._spawn(callback())
        )

    def cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    async def _auth_timeout(self) -> None:
        if not self.authenticated and not self.closed:
            await self.send_error(
                protocol.NotAuthenticated("Authentication timed out"), None
            )
            await self.close_with(protocol.CLOSE_AUTH_TIMEOUT)

    async def _idle_check(self) -> None:
        silent = time.monotonic() - self.last_heard
        timeout = settings.WS_IDLE_TIMEOUT
        if not timeout or self.closed:
            return
        if silent < timeout:
            self.set_timer("idle", timeout - silent, self._idle_check)
            return
        await self.close_with(protocol.CLOSE_IDLE_TIMEOUT)

    async def close_with(self, code: int) -> None:
        """Close the socket from the server side with one of protocol.CLOSE_*."""
        if not self.closed:
            self.closed = True
            await self.close(code)

    # -- sending ------------------------------------------------------------------------

    async def deliver(self, text: str) -> None:
        """Write one encoded frame; a socket that is closing is skipped, a stalled one cut off."""
        if self.closed:
            return
        # With the flow extension writes never wait for the client (the hub's fan-out
        # must not stall on one socket): what the client leaves unread is bounded here.
        if self._buffered is not None and self._buffered() > self.max_outbound:
            await self._cut_off()
            return
        try:
            await self.send(text_data=text)
        except Exception:  # noqa: BLE001 - the transport went away, or the text cannot be sent
            # Never leave a socket half-closed (marked closed, transport open): abort it,
            # so it leaves the per-address and per-user counts at once.
            log.warning("socket %s (%s): a send failed; aborting", self.client_id, self.address)
            self.abort()

    def abort(self) -> None:
        """Drop the connection now (no close handshake) and stop serving the socket."""
        self.closed = True
        if self._abort is not None:
            self._abort()
        else:  # no flow extension (in-process tests): end the ASGI app's receive loop
            self._spawn(self._stop())

    async def _stop(self) -> None:
        try:
            await self.base_send({"type": "websocket.close", "code": 1011})
        except Exception:  # noqa: BLE001
            pass

    def push_frame(self, frame: bytes) -> bool:
        """Write a frame the hub built once (``frames.text_frame``) without awaiting;
        False when this socket needs the awaited path (:meth:`deliver`) instead."""
        if self._send_frame is None or self.closed or self._buffered() > self.max_outbound:
            return False
        return self._send_frame(frame)

    async def _cut_off(self) -> None:
        log.warning(
            "socket %s (%s) stopped reading: over %d bytes unread; disconnecting",
            self.client_id, self.address, self.max_outbound,
        )
        await self.close_with(protocol.CLOSE_SLOW_CONSUMER)
        # The close frame queues behind everything unread: drop the connection when the
        # client has not taken it after the grace period.
        asyncio.get_running_loop().call_later(SLOW_CONSUMER_GRACE, self._abort)

    async def send_event(self, event: str, data: Any = None, request_id: Any = None) -> None:
        await self.deliver(protocol.encode(event, data, request_id))

    async def send_error(self, error: ProtocolError, request_id: Any) -> None:
        await self.send_event("error", error.as_data(), request_id)

    def expect_reply(self, request_id: str, reply_to: str) -> None:
        """The next frame from this client carrying ``request_id`` answers a hub request."""
        self._awaiting[request_id] = reply_to

    # -- receiving ----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last_heard = time.monotonic()
        request_id = None
        message = None
        admitted = False
        try:
            if text_data is None:
                raise InvalidMessage("Binary frames are not supported; send JSON text")
            if len(text_data) > settings.WS_MAX_FRAME_BYTES and (
                len(text_data.encode()) > settings.WS_MAX_FRAME_BYTES
            ):
                raise FrameTooLarge(
                    f"Frame too large (limit {settings.WS_MAX_FRAME_BYTES} bytes)"
                )
            message = protocol.parse(text_data)
            event = protocol.check_envelope(message)  # an invalid requestId is not echoed
            request_id = message.get("requestId")
            # Rate limits come before any other work on the frame.
            declared = registry.get(event)
            if not await self._admit(declared.rate if declared else "read", request_id):
                return
            admitted = True
            if isinstance(request_id, str) and request_id in self._awaiting:
                reply_to = self._awaiting.pop(request_id)
                await self.hub.route_reply(reply_to, request_id, {"message": message})
                return
            spec = self._authorise(event)
            data = spec.validate(message.get("data"))
        except ProtocolError as error:
            if message is None and text_data is not None:
                request_id = protocol.salvage_request_id(text_data)
            elif message is not None and request_id is None:
                # Echo the id when it is valid, never when it is what is wrong.
                given = message.get("requestId")
                request_id = given if protocol.valid_request_id(given) else None
            if admitted or await self._admit("read", request_id):
                await self.send_error(error, request_id)
            return
        request = Request(
            event=event, data=data, request_id=request_id, connection=self,
            idempotency_key=message.get("idempotencyKey"),
        )
        if not spec.auth or (spec.rate == "read" and not spec.ordered):
            # auth and reads run in place, in order: auth because later frames must see
            # its new state; reads because they never wait on anything but the database
            # (no game-server round trip), so a task each would cost more than it buys.
            await self._run(spec, request)
            return
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            # A burst (servers hand over queued frames without yielding): stop reading this
            # socket until one finishes, which pushes back on the client through TCP.
            await asyncio.wait(
                set(self._in_flight), timeout=settings.WS_COMMAND_TIMEOUT,
                return_when=asyncio.FIRST_COMPLETED,
            )
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            await self.send_error(RateLimited("Too many requests in flight"), request_id)
            return
        self._spawn(self._run_ordered(spec, request) if spec.ordered else self._run(spec, request))

    async def _admit(self, rate_class: str, request_id: Any) -> bool:
        """Whether the socket's rate limits let a frame of ``rate_class`` through now."""
        verdict = self.limiter.check(rate_class)
        if verdict is Verdict.ALLOW and rate_class == "command" and self.hub.user_buckets.shared \
                and self.authenticated and not self.limiter.exempt:
            wait = await self.hub.user_buckets.take_shared(self.user_id)
            if wait:
                verdict = self.limiter.refuse(rate_class, self.hub.user_buckets.rate().window, wait)
        if verdict is Verdict.ALLOW:
            return True
        if verdict is Verdict.REPORT:
            wait = self.limiter.retry_after(rate_class)
            await self.send_error(
                RateLimited(f"Too many {rate_class} requests; retry in {wait:g} s", retryAfter=wait),
                request_id,
            )
        elif verdict is Verdict.CLOSE:
            log.warning("socket %s (%s) closed for flooding", self.client_id, self.address)
            await self.close_with(protocol.CLOSE_RATE_LIMITED)
        return False

    def _spawn(self, coroutine) -> None:  # noqa: ANN001
        task = asyncio.ensure_future(coroutine)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def _authorise(self, event: str) -> EventSpec:
        """The event's declaration, once this socket may send it."""
        spec = registry.get(event)
        if spec is None:
            raise UnknownEvent(f"Unknown event: {event}")
        if spec.auth and not self.authenticated:
            raise NotAuthenticated()
        needs = spec.needs
        if needs is not None and needs.isdisjoint(self.permissions):
            raise PermissionDenied(f"Permission denied: {event} requires {spec.needs_text}")
        return spec

    async def _run_ordered(self, spec: EventSpec, request: Request) -> None:
        # asyncio.Lock is FIFO and tasks start in the order frames arrived, so ordered
        # events run one at a time in arrival order while the socket keeps reading.
        async with self._ordered:
            await self._run(spec, request)

    async def _run(self, spec: EventSpec, request: Request) -> None:
        # Before the handler reads: everything up to here is in what it reads.
        position = self.hub.position() if spec.snapshot else None
        try:
            reply = await idempotency.run(spec, request, request.idempotency_key)
        except ProtocolError as error:
            await self.send_error(error, request.request_id)
            if error.close_code is not None:
                await self.close_with(error.close_code)
            return
        except asyncio.CancelledError:
            raise
        except (OperationalError, InterfaceError) as exc:
            # The database is unreachable: say so; the next request reconnects by itself.
            log.warning(
                "socket event %s: database unavailable (%s)", spec.name, type(exc).__name__
            )
            await self.send_error(ServiceUnavailable(), request.request_id)
            return
        except Exception:  # noqa: BLE001 - report, keep the socket
            log.exception("socket event %s failed", spec.name)
            await self.send_error(InternalError(), request.request_id)
            return
        if isinstance(reply, Reply):
            await self.deliver(protocol.encode(reply.event, reply.data, request.request_id, position))
            if reply.then is not None:
                # Always run (even if the socket closed meanwhile: auth's replay cleans up
                # the hub's recovering set in it); a failure leaves the socket open.
                try:
                    await reply.then()
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the reply went out; keep the socket
                    log.exception("socket event %s: what follows the reply failed", spec.name)
        elif request.request_id is not None:
            await self.send_event("ack", None, request.request_id)

    # -- auth state ---------------------------------------------------------------------

    async def set_principal(
        self,
        *,
        username: str,
        user_id: int,
        permissions: frozenset[str],
        token_permissions: list[str],
        jti: str | None,
        exp: float,
    ) -> None:
        """Mark the socket authenticated as ``username`` with a verified token."""
        first = not self.authenticated_once
        if first:
            # From now on the socket counts against its user, no longer its address.
            cap = settings.WS_MAX_SOCKETS_PER_USER
            if not self.hub.counts.add("user", user_id, cap):
                raise TooManySockets(f"Too many sockets open for {username} (limit {cap})")
            self.hub.counts.remove(*self._counted)
            self._counted = ("user", user_id)
        self.username = username
        self.user_id = user_id
        self.permissions = permissions
        self.token_permissions = token_permissions
        self.token_jti = jti
        self.token_exp = exp
        self.cancel_timer("auth")
        self.limiter.exempt = bool(permissions & set(settings.WS_RATE_EXEMPT))
        self.limiter.shared = self.hub.user_buckets.for_user(user_id)
        if settings.WS_IDLE_TIMEOUT:
            self.set_timer("idle", settings.WS_IDLE_TIMEOUT, self._idle_check)
        self.authenticated = self.authenticated_once = True
        if first:
            await self.hub.authenticated(self)
