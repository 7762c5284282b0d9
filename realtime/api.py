"""The spec's exports as a Python API, usable from any process.

``generateToken``, ``broadcast``, ``sendToClient`` and ``getConnectedClients`` of the
spec's ``exports["[websocket]"]`` are :func:`generate_token`, :func:`broadcast`,
:func:`send_to_client` and :func:`get_connected_clients`; each has an ``a``-prefixed
coroutine twin for async code (consumers, handlers). From a process that serves no
sockets (a management command, the shell, a worker) they reach the server processes
through the channel layer, so they need ``REDIS_URL``; with the in-memory layer they only
reach the sockets of the process they are called in.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings

from accounts import permissions as perms
from realtime.registry import registry
from accounts.services import load_principal
from realtime import tokens
from realtime.hub import get_hub

log = logging.getLogger(__name__)

# Called with (event, data) after every broadcast has been handed to the hub: the seam other
# apps follow broadcasts through (webhooks' outbox). Registered with :func:`on_broadcast`.
BroadcastHook = Callable[[str, Any], Awaitable[None]]
_broadcast_hooks: list[BroadcastHook] = []


def on_broadcast(hook: BroadcastHook) -> BroadcastHook:
    """Have ``await hook(event, data)`` called after every broadcast (idempotent; a decorator).

    After the sockets' send, so a hook never delays them; a hook that fails is logged and
    neither stops the others nor the caller."""
    if hook not in _broadcast_hooks:
        _broadcast_hooks.append(hook)
    return hook


class TokenRequestError(ValueError):
    """A token cannot be minted as asked (unknown subject, permission not held, bad expiry)."""


class TokenRefused(TokenRequestError):
    """The minter may not mint this token (outside the bridge's allow-list)."""


def generate_token(
    sub: str,
    permissions: list[str],
    expires_in: str | int | timedelta | None = None,
    *,
    label: str = "",
    issued_by: Any = None,
    bridge: bool = False,
    session_hash: str = "",
) -> str:
    """A signed token for active user ``sub``, with permissions they hold; e.g. "24h".

    ``bridge``: minted for the game server's bridge (the ``generateToken`` export), which
    may mint only within the owner's allow-list (:func:`check_bridge_mint`).
    """
    if isinstance(permissions, str) or not isinstance(permissions, (list, tuple, set)):
        raise TokenRequestError("permissions must be a list of permission names")
    permissions = list(dict.fromkeys(permissions))
    bad = perms.unknown(permissions)
    if bad:
        raise TokenRequestError(
            f"unknown permission(s) {', '.join(map(repr, bad))}; known: {', '.join(perms.CATALOGUE)}"
        )
    principal = load_principal(sub)
    if principal is None:
        raise TokenRequestError(f"no active user named {sub!r}")
    if expires_in is None:
        expires_in = settings.WS_DEFAULT_TOKEN_LIFETIME
        if bridge:  # left out: the default, shortened to what the bridge may mint
            expires_in = min(
                tokens.parse_duration(expires_in), tokens.parse_duration(settings.WS_BRIDGE_MINT_MAX_LIFETIME)
            )
    if bridge:
        check_bridge_mint(principal, permissions, expires_in)
    not_held = perms.ordered(perms.expand(permissions) - principal.grants)
    if not_held:
        raise TokenRequestError(f"{sub!r} does not hold: {', '.join(not_held)}")
    try:
        token = tokens.mint(sub, permissions, expires_in)
    except ValueError as exc:
        raise TokenRequestError(str(exc)) from None
    from accounts.tokens import register_issued_token  # accounts owns the registry

    register_issued_token(token, label=label, issued_by=issued_by, session_hash=session_hash)
    return str(token)


def check_bridge_mint(principal: Any, permissions: list[str], expires_in: Any) -> None:
    """The one rule for what the game server's bridge may mint, or :class:`TokenRefused`.

    Never for a staff account (is_staff or is_superuser); only for a subject named in
    WS_BRIDGE_MINT_SUBJECTS; only permissions named in WS_BRIDGE_MINT_PERMISSIONS (never
    ``admin`` or ``gameserver``: settings refuse to list them, and this refuses them
    again); never longer than WS_BRIDGE_MINT_MAX_LIFETIME (a longer request is refused,
    not shortened: the caller learns its token would not last as long as it asked).
    """
    if principal.staff:
        raise TokenRefused(f"the game server may not mint tokens for staff account {principal.username!r}")
    if principal.username not in settings.WS_BRIDGE_MINT_SUBJECTS:
        raise TokenRefused(
            f"the game server may not mint tokens for {principal.username!r} "
            "(not in WS_BRIDGE_MINT_SUBJECTS)"
        )
    allowed = set(settings.WS_BRIDGE_MINT_PERMISSIONS) - {perms.ADMIN, perms.GAMESERVER}
    refused = [p for p in permissions if p not in allowed]
    if refused:
        raise TokenRefused(
            f"the game server may not mint {', '.join(refused)} (not in WS_BRIDGE_MINT_PERMISSIONS)"
        )
    try:
        lifetime = tokens.parse_duration(expires_in)
        longest = tokens.parse_duration(settings.WS_BRIDGE_MINT_MAX_LIFETIME)
    except ValueError as exc:
        raise TokenRequestError(str(exc)) from None
    if lifetime > longest:
        raise TokenRefused(
            f"expiry {expires_in!r} is longer than the game server may mint "
            f"(WS_BRIDGE_MINT_MAX_LIFETIME={settings.WS_BRIDGE_MINT_MAX_LIFETIME})"
        )


async def agenerate_token(
    sub: str, permissions: list[str], expires_in: str | int | None = None, **kwargs: Any
) -> str:
    return await sync_to_async(generate_token, thread_sensitive=True)(
        sub, permissions, expires_in, **kwargs
    )


async def abroadcast(event: str, data: Any, *, permission: str | list[str] | None = None) -> None:
    """Send ``{event, data}`` to every authenticated client of every server process that may
    receive it: holders of ``permission`` (any one of a list) when given, else of the
    permission the event is declared with (``registry.declare_outbound``), else everyone.

    The platform's own broadcasts go this way, so it sends reserved names too; the export
    :func:`broadcast` refuses them."""
    if not isinstance(event, str) or not event:
        raise ValueError("event must be a non-empty string")
    await get_hub().broadcast(event, data, permission)
    for hook in _broadcast_hooks:
        try:
            await hook(event, data)
        except Exception:  # noqa: BLE001 - a follower's failure is not the broadcast's
            log.exception("broadcast hook %s failed for %s", getattr(hook, "__qualname__", hook), event)


def broadcast(event: str, data: Any, *, permission: str | list[str] | None = None) -> None:
    """The export: :func:`abroadcast` of a custom event (ValueError for a reserved name)."""
    registry.check_custom_event(event)
    async_to_sync(abroadcast)(event, data, permission=permission)


async def asend_to_client(client_id: str, event: str, data: Any) -> bool:
    """Send custom ``{event, data}`` to one authenticated client; False if it is not
    connected; ValueError for one of the platform's own (reserved) event names."""
    if not isinstance(client_id, str) or not isinstance(event, str) or not event:
        return False
    registry.check_custom_event(event)
    return await get_hub().send_to(client_id, event, data)


def send_to_client(client_id: str, event: str, data: Any) -> bool:
    return async_to_sync(asend_to_client)(client_id, event, data)


async def aget_connected_clients() -> list[str]:
    """The ids of every authenticated client connected to any server process."""
    return await get_hub().connected_clients()


def get_connected_clients() -> list[str]:
    return async_to_sync(aget_connected_clients)()


async def aget_client_details() -> list[dict]:
    """Every connected client: ``{clientId, username, bridge}`` (bridge: a game server's)."""
    return await get_hub().client_details()
