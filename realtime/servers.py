"""Running the platform under daphne or uvicorn, with what the socket needs from them.

Both servers get:
- a transport limit on incoming messages (WS_MAX_FRAME_BYTES x TRANSPORT_FRAME_FACTOR):
  frames above WS_MAX_FRAME_BYTES but below it get a ``frame_too_large`` error from the
  consumer; anything larger is refused by the server itself (close 1009) before it is
  buffered whole;
- TLS when WS_TLS_CERT and WS_TLS_KEY are set (wss:// and https:// on the one port);
- no proxy-header handling of their own: project.proxy applies X-Forwarded-* from
  WS_TRUSTED_PROXIES only;
- the ``realtime.flow`` scope extension on every socket: ``buffered()`` is how many bytes
  the transport holds for a client that has not read them yet, ``abort()`` drops the
  connection. With it, writes never wait for the client (daphne's never do; uvicorn's
  would wait on a full buffer, so its pause is switched off) and the consumer bounds the
  backlog itself (WS_MAX_OUTBOUND_BYTES): one stalled client cannot hold up a broadcast.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from typing import Any

from django.conf import settings

from project.proxy import is_trusted

log = logging.getLogger(__name__)

TRANSPORT_FRAME_FACTOR = 4
FLOW = "realtime.flow"


def transport_frame_limit() -> int:
    """The largest message the ASGI server accepts at all (bytes)."""
    return settings.WS_MAX_FRAME_BYTES * TRANSPORT_FRAME_FACTOR


def tls_files() -> tuple[str, str] | None:
    """(certificate, key) paths when the platform serves TLS itself."""
    if settings.WS_TLS_CERT and settings.WS_TLS_KEY:
        return settings.WS_TLS_CERT, settings.WS_TLS_KEY
    return None


# -- daphne (Twisted) -------------------------------------------------------------------


def twisted_layers(transport: Any) -> tuple[Any, list]:
    """The TCP transport under a Twisted transport, and the TLS layers above it."""
    tls = []
    for _ in range(4):  # the websocket protocol's transport, then TLS's, then TCP's
        if transport is None or hasattr(transport, "dataBuffer"):
            break
        if hasattr(transport, "_appSendBuffer"):
            tls.append(transport)
        transport = getattr(transport, "transport", None)
    return transport, tls


def daphne_flow(protocol: Any) -> dict:
    """The flow extension of one daphne WebSocketProtocol (its layers found once)."""
    tcp, tls = twisted_layers(protocol.transport)

    def buffered() -> int:
        # Bytes past the written offset plus writes not yet flushed: memory this client holds.
        return len(tcp.dataBuffer) - tcp.offset + tcp._tempDataLen

    def buffered_tls() -> int:
        # ... and cleartext the TLS layer keeps until its handshake is done.
        pending = buffered() if tcp is not None else 0
        for layer in tls:
            if layer._appSendBuffer:
                pending += sum(map(len, layer._appSendBuffer))
        return pending

    def abort() -> None:
        if protocol.transport is not None:
            protocol.transport.abortConnection()

    def send_frame(frame: bytes) -> bool:
        # What autobahn's sendPreparedMessage does, for a frame the hub built once.
        if protocol.state != protocol.STATE_OPEN or protocol.transport is None:
            return False
        protocol.sendData(frame)
        return True

    plain = tcp is not None and not tls
    return {"buffered": buffered if plain else buffered_tls, "abort": abort, "send_frame": send_frame}


def _daphne_server_class():
    from daphne.server import Server

    class FlowServer(Server):
        """daphne's server, adding the flow extension to each socket's scope, and the
        slowloris bounds to each connection (see bound_daphne_factories)."""

        @property
        def http_factory(self):  # noqa: ANN202
            return self._http_factory

        @http_factory.setter
        def http_factory(self, factory) -> None:  # noqa: ANN001
            # Server.run() builds its factories and listens at once: bounded as they are set.
            self._http_factory = bound_http_factory(factory)

        @property
        def ws_factory(self):  # noqa: ANN202
            return self._ws_factory

        @ws_factory.setter
        def ws_factory(self, factory) -> None:  # noqa: ANN001
            self._ws_factory = bound_ws_factory(factory)

        def create_application(self, protocol, scope):  # noqa: ANN001, ANN202
            if scope.get("type") == "websocket":
                scope["extensions"] = {**(scope.get("extensions") or {}), FLOW: daphne_flow(protocol)}
            return super().create_application(protocol, scope)

        def run(self) -> None:
            from twisted.internet import reactor

            # A message over the limit gets a close frame 1009 (message too big) rather
            # than a bare TCP drop: the client learns why. And a client gets 5 s, not 1 s,
            # to answer our close frame before the connection is aborted: an abort (RST)
            # discards what it has not read yet, the error that explains the close included.
            reactor.callWhenRunning(
                lambda: self.ws_factory.setProtocolOptions(
                    failByDrop=False,
                    closeHandshakeTimeout=5,
                    allowNullOrigin=True,  # its default would reset daphne's; OriginPolicy decides
                )
            )
            super().run()

    return FlowServer


def bound_http_factory(factory: Any) -> Any:
    """daphne's HTTP factory with the slowloris bounds: each connection is counted per
    address (PeerBook; refused past the cap) and aborted unless its request headers are
    complete WS_HEADER_TIMEOUT after it opened (before TLS's handshake: Twisted builds the
    protocol when it accepts) or after its previous request ended."""
    from twisted.internet import reactor

    build = factory.buildProtocol

    def build_protocol(addr):  # noqa: ANN001, ANN202
        channel = build(addr)
        if channel is None:
            return None
        timer = connection = None
        # daphne builds twisted's _GenericHTTPChannelProtocol, the HTTP/1.1 channel inside.
        inner = getattr(channel, "_channel", channel)
        made, all_headers, done, lost = (channel.makeConnection, inner.allHeadersReceived,
                                         inner.requestDone, channel.connectionLost)

        def arm() -> None:
            nonlocal timer
            if settings.WS_HEADER_TIMEOUT and timer is None:
                timer = reactor.callLater(settings.WS_HEADER_TIMEOUT, too_slow)

        def cancel() -> None:
            nonlocal timer
            if timer is not None and timer.active():
                timer.cancel()
            timer = None

        def too_slow() -> None:
            nonlocal timer
            timer = None
            if connection is not None:
                connection.abortConnection()

        def make_connection(transport) -> None:  # noqa: ANN001
            nonlocal connection
            connection = transport
            made(transport)
            if not peers().admit(getattr(transport.getPeer(), "host", ""), transport):
                transport.abortConnection()
                return
            arm()

        def all_headers_received() -> None:
            cancel()
            all_headers()

        def request_done(request) -> None:  # noqa: ANN001
            done(request)
            arm()  # the next request of a kept-alive connection gets the same bound

        def connection_lost(reason) -> None:  # noqa: ANN001
            cancel()
            peers().release(connection)
            lost(reason)

        channel.makeConnection, inner.allHeadersReceived = make_connection, all_headers_received
        inner.requestDone, channel.connectionLost = request_done, connection_lost
        return channel

    factory.buildProtocol = build_protocol
    return factory


def bound_ws_factory(factory: Any) -> Any:
    """daphne's WebSocket factory: an upgraded connection ends in its protocol, not in the
    HTTP channel, so that is where the connection is uncounted."""
    build = factory.buildProtocol

    def build_protocol(addr):  # noqa: ANN001, ANN202
        protocol = build(addr)
        lost = protocol.connectionLost

        def connection_lost(reason) -> None:  # noqa: ANN001
            if protocol.transport is not None:
                peers().release(protocol.transport)
            lost(reason)

        protocol.connectionLost = connection_lost
        return protocol

    factory.buildProtocol = build_protocol
    return factory


def _endpoint_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def daphne_args(host: str, port: int) -> list[str]:
    """daphne's command line for the platform."""
    tls = tls_files()
    if tls:
        cert, key = map(_endpoint_escape, tls)
        bind = ["-e", f"ssl:port={port}:interface={_endpoint_escape(host)}:privateKey={key}:certKey={cert}"]
    else:
        bind = ["-b", host, "-p", str(port)]
    limit = str(transport_frame_limit())
    return [
        *bind,
        "--websocket-max-message-size", limit,
        "--websocket-max-frame-size", limit,
        "project.asgi:application",
    ]


def run_daphne(host: str, port: int) -> None:
    """Serve with daphne until stopped."""
    from daphne.cli import CommandLineInterface

    class FlowCLI(CommandLineInterface):
        server_class = _daphne_server_class()

    FlowCLI().run(daphne_args(host, port))


# -- connection bounds (slowloris) -------------------------------------------------------


class PeerBook:
    """Open TCP connections per client address in this process, whatever they became
    (HTTP request, WebSocket): a client past WS_MAX_CONNECTIONS_PER_ADDRESS is cut off
    at once, before it costs a parser or a timer."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: Counter[str] = Counter()
        self.held: dict[int, str] = {}

    def admit(self, address: str, connection: object) -> bool:
        """Count a new connection; False when its address already has ``limit``. A trusted
        proxy (WS_TRUST_PROXY_HEADERS) is not counted: every client arrives from it, and
        bounding per client is then the proxy's job (docs/SECURITY.md)."""
        if settings.WS_TRUST_PROXY_HEADERS and is_trusted(address, tuple(settings.WS_TRUSTED_PROXIES)):
            return True
        if self.limit and self.counts[address] >= self.limit:
            return False
        self.counts[address] += 1
        self.held[id(connection)] = address
        return True

    def release(self, connection: object) -> None:
        """Uncount a connection that ended (once, whichever protocol saw it end)."""
        address = self.held.pop(id(connection), None)
        if address is not None:
            self.counts[address] -= 1
            if self.counts[address] <= 0:
                del self.counts[address]


_peers: PeerBook | None = None


def peers() -> PeerBook:
    """This process's PeerBook (built on first use, from the settings)."""
    global _peers
    if _peers is None:
        _peers = PeerBook(settings.WS_MAX_CONNECTIONS_PER_ADDRESS)
    return _peers


# -- uvicorn (asyncio) ------------------------------------------------------------------


def _uvicorn_http_class():
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpProtocol(HttpToolsProtocol):
        """uvicorn's HTTP protocol with the slowloris bounds: connections per address
        (PeerBook), and WS_HEADER_TIMEOUT from a request's first byte (or from the
        connection, for the first one) to the end of its headers, however slowly they
        trickle in. Idle keep-alive between requests is uvicorn's own timeout."""

        header_timer = None

        def connection_made(self, transport) -> None:  # noqa: ANN001
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            if not peers().admit(peer[0] if peer else "", transport):
                transport.abort()
                return
            self._arm_header_timer()

        def connection_lost(self, exc) -> None:  # noqa: ANN001
            self._cancel_header_timer()
            peers().release(self.transport)
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._cancel_header_timer()
            super().on_headers_complete()

        def _arm_header_timer(self) -> None:
            timeout = settings.WS_HEADER_TIMEOUT
            if timeout and self.header_timer is None:
                self.header_timer = self.loop.call_later(timeout, self._headers_too_slow)

        def _cancel_header_timer(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def _headers_too_slow(self) -> None:
            self.header_timer = None
            if not self.transport.is_closing():
                self.transport.abort()

    return BoundedHttpProtocol



def _uvicorn_protocol_class():
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.protocol import OPEN

    class FlowWebSocketProtocol(WebSocketsSansIOProtocol):
        """uvicorn's websockets protocol with the flow extension; writes never wait."""

        async def run_asgi(self) -> None:
            transport = self.transport
            self.scope["extensions"][FLOW] = {
                "buffered": transport.get_write_buffer_size,
                "abort": transport.abort,
                "send_frame": self.send_frame,
            }
            await super().run_asgi()

        def connection_lost(self, exc) -> None:  # noqa: ANN001
            # An upgraded connection ends here, not in the HTTP protocol: uncount it.
            peers().release(self.transport)
            super().connection_lost(exc)

        def send_frame(self, frame: bytes) -> bool:
            """Write a frame the hub built once; False when the socket is not open."""
            if (
                not self.handshake_complete
                or self.close_sent
                or self.disconnected
                or self.conn.state is not OPEN
                or self.transport.is_closing()
            ):
                return False
            self.transport.write(frame)
            return True

        def pause_writing(self) -> None:
            # uvicorn would make every send() wait until this client reads; the consumer
            # bounds the backlog instead (WS_MAX_OUTBOUND_BYTES), so nobody waits on it.
            pass

    return FlowWebSocketProtocol


def shared_listener(host: str, port: int) -> socket.socket:
    """A listening socket that other processes may bind too (SO_REUSEPORT): the kernel
    spreads new connections over every process listening on the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_uvicorn(host: str, port: int, *, reuse_port: bool = False) -> None:
    """Serve with uvicorn until stopped (sharing the port with others when ``reuse_port``)."""
    import uvicorn

    tls = tls_files()
    config = uvicorn.Config(
        "project.asgi:application",
        host=host,
        port=port,
        lifespan="on",  # webhooks/asgi.py answers it: each process's webhook sender
        http=_uvicorn_http_class(),
        ws=_uvicorn_protocol_class(),
        ws_max_size=transport_frame_limit(),
        # No permessage-deflate (daphne offers none either): compressing each frame for
        # each socket would cost the broadcast hot path, and compression next to secrets
        # invites CRIME-style length leaks.
        ws_per_message_deflate=False,
        proxy_headers=False,  # project.proxy decides whom to trust
        server_header=False,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        log_level="warning",
    )
    uvicorn.Server(config).run(sockets=[shared_listener(host, port)] if reuse_port else None)


SERVERS = {"daphne": run_daphne, "uvicorn": run_uvicorn}
