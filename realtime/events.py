"""The socket events the realtime app itself owns: auth, ping, and the spec's exports
offered to the game server's bridge."""

from __future__ import annotations

import logging
import time

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings
from rest_framework import serializers

from accounts import permissions as perms
from accounts.services import note_token_used
from realtime import access, api, bridgekeys, protocol, tokens
from realtime.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from realtime.hub import Hub, get_hub, hub_handler, may_receive
from realtime.protocol import InvalidPayload, InvalidToken, PermissionDenied
from realtime.registry import Reply, Request, event, registry

log = logging.getLogger(__name__)


class PositionSchema(serializers.Serializer):
    epoch = StrictCharField(max_length=64)
    offset = StrictIntegerField(min_value=0)


class AuthSchema(serializers.Serializer):
    token = StrictCharField(max_length=8192, trim_whitespace=False)
    # The last position the client saw: recover what it missed (docs/PROTOCOL.md).
    since = PositionSchema(required=False)


@event("auth", auth=False, schema=AuthSchema, reply="authenticated", rate="auth", http=False)
async def auth(request: Request) -> Reply:
    """Authenticate (or re-authenticate) the socket with a JWT."""
    conn = request.connection
    raw = request.data["token"]
    if bridgekeys.signed_by_bridge(raw):
        # Signed by a game server's resource with its bridge key (its synchronous
        # generateToken): verified with that key, within the allow-list, then registered.
        payload = await database_sync_to_async(bridgekeys.verify)(raw)
    else:
        payload = tokens.verify(raw)
    if conn.authenticated and payload["sub"] != conn.username:
        # Re-auth may renew the token, never switch to another user.
        raise PermissionDenied("Re-authentication must be for the same subject")
    principal = await access.authenticate(payload)
    if principal is None:
        raise InvalidToken()
    token_permissions = list(payload.get("permissions", []))
    effective = perms.expand(token_permissions) & principal.grants
    # Recovery only on the socket's first auth: an authenticated socket missed nothing.
    since = request.data.get("since") if not conn.authenticated_once else None
    if since is not None:
        conn.held = []  # from the moment it is authenticated, live broadcasts wait
        conn.hub.recovering.add(conn)
    try:
        await conn.set_principal(
            username=principal.username,
            user_id=principal.user_id,
            permissions=effective,
            token_permissions=token_permissions,
            jti=payload.get("jti"),
            exp=float(payload["exp"]),
        )
    except BaseException:
        conn.held = None
        conn.hub.recovering.discard(conn)
        raise
    conn.token_iat = payload.get("iat")
    conn.token_issuer_id, conn.token_issuer = principal.issuer_id, principal.issuer
    schedule_expiry(conn)
    if payload.get("jti"):  # off the reply's path: at most one write a minute per token
        conn.set_timer("token-used", 0, lambda: database_sync_to_async(note_token_used)(payload["jti"]))
    data = {"clientId": conn.client_id, "permissions": perms.ordered(effective)}
    if since is None:
        return Reply("authenticated", data)
    missed = await _missed(conn, since)
    data["recovered"] = missed is not None
    # Not recovered: the client reloads its snapshots; every held broadcast still follows.
    start = since["offset"] if missed is not None else -1
    return Reply("authenticated", data, then=lambda: _replay(conn, start, missed or []))


async def _missed(conn, since: dict) -> list | None:  # noqa: ANN001
    """The broadcasts after ``since`` (realtime/history.py), or None: not recoverable."""
    history = conn.hub.history
    if history is None:
        return None
    try:
        return await history.after(since["epoch"], since["offset"])
    except Exception:  # noqa: BLE001 - Redis failed: the client reloads instead
        log.warning("auth: reading the history failed; not recovered", exc_info=True)
        return None


async def _replay(conn, offset: int, missed: list) -> None:  # noqa: ANN001
    """After ``authenticated``: the missed broadcasts this socket may receive, in order,
    then the live ones held meanwhile that it has not had; then live delivery resumes."""
    last = offset
    try:
        for entry in missed:
            if may_receive(conn, entry.message):
                await conn.deliver(entry.text)
            last = entry.offset
        while conn.held:
            held_offset, text = conn.held.pop(0)
            if held_offset is None or held_offset > last:
                await conn.deliver(text)
                last = held_offset or last
    finally:
        conn.held = None  # no await between the last check and this: nothing is lost
        conn.hub.recovering.discard(conn)


@event("renewToken", permission=perms.GAMESERVER, reply="token", rate="command", http=False)
async def renew_token(request: Request) -> Reply:
    """A new token for the bridge itself, as long-lived as the one it authenticated with
    (registered; the old one stays valid until it expires): the resource renews its own
    token before it runs out."""
    conn = request.connection
    iat = getattr(conn, "token_iat", None)
    iat = iat if isinstance(iat, (int, float)) else None
    lifetime = (conn.token_exp - iat) if iat is not None else None
    if not lifetime or lifetime <= 0:
        lifetime = tokens.parse_duration(settings.WS_DEFAULT_TOKEN_LIFETIME).total_seconds()
    longest = tokens.parse_duration(settings.WS_MAX_TOKEN_LIFETIME).total_seconds()
    names = [p for p in conn.token_permissions if p in conn.permissions]
    try:
        token = await api.agenerate_token(
            conn.username, names, int(min(lifetime, longest)),
            label="renewed by the game server's bridge", issued_by=conn.user_id,
        )
    except api.TokenRequestError as exc:
        raise InvalidPayload(str(exc)) from None
    return Reply("token", {"token": token})


# -- what the game server's resource keeps live: the client list, its signing key ------


@event("bridgeSync", permission=perms.GAMESERVER, reply="bridgeSynced", http=False)
async def bridge_sync(request: Request) -> Reply:
    """Subscribe this bridge to its copy of the connected-client list and its signing key
    (the resource's synchronous exports): the key now, the list right after, then both on
    every change."""
    conn = request.connection
    key = await _check_key(conn)
    return Reply("bridgeSynced", {"signingKey": key}, then=lambda: conn.hub.sync_bridge(conn))


async def _check_key(conn) -> dict | None:  # noqa: ANN001
    """The bridge's current key (None: it may have none), noted as the one it holds; the
    next check is due at its rotation or after WS_BRIDGE_KEY_CHECK, whichever is first."""
    key = await database_sync_to_async(bridgekeys.delivery)(conn.user_id, conn.username)
    conn.signing_kid = key["kid"] if key else None
    wait = settings.WS_BRIDGE_KEY_CHECK
    if key:
        wait = min(wait, max(key["rotatesAt"] - time.time(), 0) + 0.5)
    conn.set_timer("bridge-key", wait, lambda: send_signing_key(conn))
    return key


async def send_signing_key(conn) -> None:  # noqa: ANN001
    """Push a subscribed bridge's signing key when it differs from the one it holds (new,
    rotated, or revoked: ``signingKey`` with ``kid: null`` then)."""
    if conn.closed or not conn.authenticated or conn.signing_kid == "":
        return
    held = conn.signing_kid
    key = await _check_key(conn) if perms.GAMESERVER in conn.permissions else None
    if not key:
        conn.signing_kid = None
    if conn.signing_kid != held:
        await conn.send_event("signingKey", key or {"kid": None})


def schedule_expiry(conn) -> None:  # noqa: ANN001
    """tokenExpiring shortly before the token's exp, tokenExpired (and a close) at it."""
    remaining = conn.token_exp - time.time()
    # A token that is already inside the warning window is warned about at once.
    warn_in = max(remaining - settings.WS_TOKEN_EXPIRY_WARNING, 0)
    conn.set_timer("token-expiring", warn_in, lambda: _expiring(conn))
    conn.set_timer("token-expired", remaining, lambda: _expired(conn))


async def _expiring(conn) -> None:  # noqa: ANN001
    await conn.send_event(
        "tokenExpiring", {"expiresIn": max(0, round(conn.token_exp - time.time()))}
    )


async def _expired(conn) -> None:  # noqa: ANN001
    if conn.token_exp is None:
        return
    if conn.token_exp > time.time() + 0.05:
        # The loop's clock fired early: wait for the rest rather than never closing.
        conn.set_timer("token-expired", conn.token_exp - time.time(), lambda: _expired(conn))
        return
    conn.authenticated = False
    await conn.send_event("tokenExpired")
    await conn.close_with(protocol.CLOSE_TOKEN_EXPIRED)


@event("ping", reply="pong", http="GET /ping")
async def ping(request: Request) -> Reply:
    """Round-trip check; answers the server's time in milliseconds."""
    return Reply("pong", {"time": int(time.time() * 1000)})


def announce_key_change(user_ids: list[int]) -> None:
    """Tell every process's hub that these bridge accounts' keys changed (from sync code:
    a command, Django admin); their connected bridges get the current key at once."""

    async def publish() -> None:
        await get_hub().publish({"type": "bridge.key", "user_ids": list(user_ids)})

    async_to_sync(publish)()


@hub_handler("bridge.key")
async def _on_key_change(hub: Hub, message: dict) -> None:
    user_ids = set(message["user_ids"])
    for conn in hub.local(lambda c: c.authenticated and c.user_id in user_ids):
        await send_signing_key(conn)


# -- the spec's exports, for the game server's bridge ---------------------------------


class GenerateTokenSchema(serializers.Serializer):
    sub = StrictCharField(max_length=150)
    permissions = serializers.ListField(child=StrictCharField(max_length=64), max_length=32)
    expiresIn = StrictCharField(max_length=16, required=False, default=None)


@event("generateToken", permission=perms.GAMESERVER, schema=GenerateTokenSchema, reply="token", rate="command", http="POST /tokens")
async def generate_token(request: Request) -> Reply:
    """The export generateToken(sub, permissions, expiresIn): within sub's grants and the
    owner's allow-list for the bridge (realtime.api.check_bridge_mint); the bridge's user
    is the token's issuer."""
    data = request.data
    try:
        token = await api.agenerate_token(
            data["sub"],
            data["permissions"],
            data["expiresIn"],
            label=f"minted by the game server's bridge ({request.username})",
            issued_by=request.connection.user_id,
            bridge=True,
        )
    except api.TokenRefused as exc:
        raise PermissionDenied(str(exc)) from None
    except api.TokenRequestError as exc:
        raise InvalidPayload(str(exc)) from None
    return Reply("token", {"token": token})


# The protocol's own server-to-client events (issue 13 #13: never sent from an export).
registry.declare_outbound(
    "connected", "authenticated", "error", "pong", "ack", "tokenExpiring", "tokenExpired",
    "permissionsChanged", "bridgeReplaced",
)
# Pushed to the game server's bridge only: its copy of the connected-client list, and its
# signing key.
registry.declare_outbound("connectedClients", "signingKey", permission=perms.GAMESERVER)


class BroadcastSchema(serializers.Serializer):
    event = serializers.RegexField(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
    data = serializers.JSONField(required=False, allow_null=True, default=None)

    def validate_event(self, value: str) -> str:
        try:
            return registry.check_custom_event(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


@event("broadcast", permission=perms.GAMESERVER, schema=BroadcastSchema, reply="ack", rate="command",
       http="POST /broadcast")
async def broadcast(request: Request) -> None:
    """The export broadcast(event, data): to every authenticated client."""
    await api.abroadcast(request.data["event"], request.data["data"])


class SendToClientSchema(BroadcastSchema):
    clientId = StrictCharField(max_length=64)


@event("sendToClient", permission=perms.GAMESERVER, schema=SendToClientSchema, reply="sent", rate="command",
       http="POST /clients/{clientId}/send")
async def send_to_client(request: Request) -> Reply:
    """The export sendToClient(clientId, event, data); answers whether it was delivered."""
    data = request.data
    delivered = await api.asend_to_client(data["clientId"], data["event"], data["data"])
    return Reply("sent", {"delivered": delivered})


class ConnectedClientsSchema(serializers.Serializer):
    detail = StrictBooleanField(required=False, default=False)


@event("getConnectedClients", permission=perms.GAMESERVER, schema=ConnectedClientsSchema, reply="clients",
       http="GET /clients")
async def get_connected_clients(request: Request) -> Reply:
    """The export getConnectedClients(): ids of every authenticated client; with detail,
    also each one's user and whether it is a game server's bridge."""
    if request.data["detail"]:
        details = await api.aget_client_details()
        return Reply("clients", {"clients": [d["clientId"] for d in details], "details": details})
    return Reply("clients", {"clients": await api.aget_connected_clients()})
