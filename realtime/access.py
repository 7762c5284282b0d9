"""Open sockets follow their users' rights, in every server process.

``accounts.signals`` announces committed changes; the receivers here publish them to every
process's hub (the channel layer; Redis with ``REDIS_URL``), and each hub acts on its own
sockets:

  accounts.revoked {jtis}                 sockets using these tokens close with 4003
  accounts.changed {user_ids, usernames}  per user with local sockets: one query for their
                                          current grants; a deactivated, deleted or renamed
                                          user's sockets close with 4003, the others get
                                          ``permissionsChanged`` when what they may do changed.
                                          The same for the sockets whose token these users
                                          minted for someone else (bounded by the issuer's
                                          grants; an inactive or deleted issuer closes them)

An ``auth`` that was reading the database while such a message about its user or token
arrived could have read the old state (and cached it): :func:`authenticate` notices and
reads again, bypassing the cache, so a revocation never loses a race against a concurrent
``auth``. Messages about other users and tokens do not concern it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async

from accounts import permissions as perms
from accounts import services, signals
from realtime import protocol
from realtime.hub import Hub, get_hub, hub_handler

if TYPE_CHECKING:
    from accounts.services import Principal

log = logging.getLogger(__name__)

PERMISSIONS_CHANGED = "permissionsChanged"

# The accounts messages this process has received, numbered, newest last: (number,
# usernames, jtis). authenticate() asks whether one about its user or token came meanwhile.
_received = 0
_recent: deque[tuple[int, frozenset[str], frozenset[str]]] = deque(maxlen=256)


def _note(*, usernames: Iterable[str] = (), jtis: Iterable[str] = ()) -> None:
    global _received
    _received += 1
    _recent.append((_received, frozenset(usernames), frozenset(jtis)))


def _changed_since(mark: int, username: str | None, jti: str | None) -> bool:
    """Whether a message received after number ``mark`` may concern this user or token
    (yes when so many came that the oldest of them is no longer kept)."""
    if mark == _received:
        return False
    if _recent[0][0] > mark + 1:
        return True
    return any(n > mark and (username in names or jti in jtis) for n, names, jtis in _recent)


def connect() -> None:
    """Listen to accounts' announcements (from RealtimeConfig.ready)."""
    signals.tokens_revoked.connect(_tokens_revoked, dispatch_uid="realtime.access.revoked")
    signals.access_changed.connect(_access_changed, dispatch_uid="realtime.access.changed")


def _tokens_revoked(sender: Any, jtis: list[str], **kwargs: Any) -> None:
    _publish({"type": "accounts.revoked", "jtis": list(jtis)})


def _access_changed(sender: Any, user_ids: list[int], usernames: list[str], **kwargs: Any) -> None:
    _publish({"type": "accounts.changed", "user_ids": list(user_ids), "usernames": list(usernames)})


def _publish(message: dict) -> None:
    # Signals arrive in sync code (an admin view, a command, database_sync_to_async);
    # async_to_sync runs the publish on the server's own loop when there is one.
    async def publish() -> None:
        await get_hub().publish(message)

    async_to_sync(publish)()


async def authenticate(payload: dict) -> Principal | None:
    """accounts.services.authenticate off the event loop, read again (uncached) when the
    user's access or the token changed meanwhile."""
    username, jti = (v if isinstance(v, str) else None for v in (payload.get("sub"), payload.get("jti")))
    fresh = False
    for _ in range(3):
        mark = _received
        principal = await database_sync_to_async(services.authenticate)(payload, fresh=fresh)
        issuer = principal.issuer if principal is not None else None  # it bounds the token too
        if not _changed_since(mark, username, jti) and not (issuer and _changed_since(mark, issuer, None)):
            return principal
        fresh = True
    return None  # this user's rights keep changing under this auth: fail closed; retry


@hub_handler("accounts.revoked")
async def _on_revoked(hub: Hub, message: dict) -> None:
    jtis = set(message["jtis"])
    _note(jtis=jtis)
    for conn in hub.local(lambda c: c.token_jti is not None and c.token_jti in jtis):
        await conn.close_with(protocol.CLOSE_ACCESS_REVOKED)
    # This process's own cache (a no-op repeat for a shared cache).
    await sync_to_async(services.forget, thread_sensitive=False)(jtis=jtis)


@hub_handler("accounts.changed")
async def _on_changed(hub: Hub, message: dict) -> None:
    user_ids = set(message["user_ids"])
    _note(usernames=message["usernames"])
    conns = hub.local(
        lambda c: c.authenticated and (c.user_id in user_ids or getattr(c, "token_issuer_id", None) in user_ids)
    )
    local_names = {c.username for c in conns} | {c.token_issuer for c in conns if getattr(c, "token_issuer", None)}
    # This process's own cache (a no-op repeat for a shared cache).
    others = set(message["usernames"]) - local_names
    if others:
        await sync_to_async(services.forget, thread_sensitive=False)(usernames=others)
    if not conns:
        return
    # One query per user with sockets here, whatever their number of sockets.
    current = await database_sync_to_async(services.refresh_principals)(local_names)
    for conn in conns:
        issuer = current.get(conn.token_issuer) if getattr(conn, "token_issuer_id", None) is not None else None
        await follow(conn, current.get(conn.username), issuer)


async def follow(conn: Any, principal: Principal | None, issuer: Principal | None = None) -> None:
    """Bring one socket in line with its user's current principal (and, for a token another
    user minted, that issuer's: services.authenticate's rule)."""
    if principal is None or principal.user_id != conn.user_id:
        await conn.close_with(protocol.CLOSE_ACCESS_REVOKED)
        return
    issuer_id = getattr(conn, "token_issuer_id", None)
    if issuer_id is not None and (issuer is None or issuer.user_id != issuer_id):
        # The issuer was deactivated, deleted (or renamed: a new auth finds them again).
        await conn.close_with(protocol.CLOSE_ACCESS_REVOKED)
        return
    iat = getattr(conn, "token_iat", None)
    if conn.token_jti is None and principal.tokens_after is not None and (
        not isinstance(iat, (int, float)) or iat <= principal.tokens_after
    ):  # an unregistered token from before a password change (services.authenticate)
        await conn.close_with(protocol.CLOSE_ACCESS_REVOKED)
        return
    effective = perms.expand(conn.token_permissions) & principal.grants
    if issuer_id is not None:
        effective &= services.mint_bound(issuer)
    if effective != conn.permissions:
        conn.permissions = effective
        await conn.send_event(PERMISSIONS_CHANGED, {"permissions": perms.ordered(effective)})
