"""Trust X-Forwarded-For / X-Forwarded-Proto only from the reverse proxies we name.

The ASGI servers are started without their own proxy-header handling (daphne's would
trust any peer). With WS_TRUST_PROXY_HEADERS on, a request whose peer is one of
WS_TRUSTED_PROXIES gets its ``client`` from X-Forwarded-For (the right-most address that
is not itself a trusted proxy) and its ``scheme`` from X-Forwarded-Proto; a request from
anyone else is taken as it came. HTTP and the socket see the same client address.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def is_trusted(address: str, entries: tuple[str, ...]) -> bool:
    """Whether ``address`` is within one of the trusted proxy addresses or networks."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in _networks(entries))


def forwarded_client(forwarded_for: str, trusted: tuple[str, ...]) -> str | None:
    """The client in an X-Forwarded-For chain: the right-most entry no trusted proxy added."""
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop if _is_ip(hop) else None
    return hops[0] if hops and _is_ip(hops[0]) else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


class ProxyHeadersMiddleware:
    """ASGI middleware applying the forwarded client and scheme from trusted proxies."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and settings.WS_TRUST_PROXY_HEADERS:
            scope = self.rewrite(scope)
        await self.app(scope, receive, send)

    @staticmethod
    def rewrite(scope: dict) -> dict:
        """``scope`` with client and scheme taken from the headers, when the peer is trusted."""
        trusted = tuple(settings.WS_TRUSTED_PROXIES)
        peer = scope.get("client")
        if not peer or not is_trusted(str(peer[0]), trusted):
            return scope
        headers = {}
        for name, value in scope.get("headers", []):
            if name in (b"x-forwarded-for", b"x-forwarded-proto"):
                # Repeated headers are one comma-separated list (RFC 9110).
                text = value.decode("latin1")
                headers[name] = f"{headers[name]},{text}" if name in headers else text
        scope = dict(scope)
        if b"x-forwarded-for" in headers:
            client = forwarded_client(headers[b"x-forwarded-for"], trusted)
            if client:
                scope["client"] = (client.strip("[]"), 0)
        proto = headers.get(b"x-forwarded-proto", "").split(",")[-1].strip().lower()
        if proto in ("https", "http"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = proto
        return scope
