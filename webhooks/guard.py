"""The SSRF guard: webhook requests never reach internal addresses unless allowed.

Every TCP connection the webhook client opens (the endpoint's, and each redirect's) goes
through :class:`GuardedBackend`, which resolves the host itself, refuses the connection if
any address it resolves to is not globally routable (loopback, private, link-local,
carrier-grade NAT, multicast, reserved, unspecified; IPv4-mapped IPv6 too) and not in
WS_WEBHOOK_ALLOW_PRIVATE, and then connects to the address it checked: a DNS answer that
changes between the check and the connection (rebinding) cannot slip past. TLS still
verifies the certificate against the URL's host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpcore
import httpx
from django.conf import settings


class AddressRefused(Exception):
    """The endpoint's host resolves to an internal address the owner did not allow."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allowed_networks(entries: Iterable[str] | None = None) -> list[Network]:
    """WS_WEBHOOK_ALLOW_PRIVATE as networks (an address is a one-address network)."""
    entries = settings.WS_WEBHOOK_ALLOW_PRIVATE if entries is None else entries
    return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]


def is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check(address: str, allow: list[Network]) -> None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if is_internal(address) and not any(ip in net for net in allow if net.version == ip.version):
        raise AddressRefused(f"refused: {address} is an internal address (WS_WEBHOOK_ALLOW_PRIVATE)")


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an address resolves to itself)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses that pass :func:`check`."""

    def __init__(self, allow: list[Network] | None = None) -> None:
        self.allow = allowed_networks() if allow is None else allow
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ANN001, ANN201
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        for address in addresses:  # all of them: refuse a host with any internal address
            check(address, self.allow)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"{host} has no address")

    async def connect_unix_socket(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise AddressRefused("refused: unix sockets are never webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over :class:`GuardedBackend`; no proxies from the environment."""

    def __init__(self, allow: list[Network] | None = None, max_connections: int = 100) -> None:
        super().__init__(trust_env=False)
        # httpx's transport takes no network backend; its pool is rebuilt with ours.
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx's transport changed: cannot install the SSRF guard")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(allow),
        )
