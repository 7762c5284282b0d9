"""Per-bridge signing keys: the FiveM resource's synchronous ``generateToken``.

The platform's secret (WS_JWT_SECRET) never goes to a game server: any resource there can
read any convar. Instead each bridge account (the account that speaks for one game server)
gets a signing key of its own, delivered over its socket (``signingKey``) and held in
memory by the resource, which signs the spec's payload with it, naming its server:

    header  {"alg": "HS256", "typ": "JWT", "kid": "bk-..."}
    payload {"sub", "permissions", "iat", "exp", "jti", "server": <bridge username>}

The platform verifies such a token with that key and accepts it only within the owner's
allow-list for bridge-minted tokens (:func:`realtime.api.check_bridge_mint`: subjects,
permissions, lifetime), then registers it (``IssuedToken``, issued by the bridge's user,
``signing_key`` set), so that everything else (revocation, the issuer's bound, the
issuer's deactivation) applies as to a token the platform minted for the bridge. A hostile
resource that steals the key can do no more than the export itself allows.

Keys are derived, never stored: HMAC-SHA256(WS_JWT_SECRET, "bridge-signing-key:" + kid).
A key is rotated after WS_BRIDGE_KEY_ROTATION (the retired key verifies the tokens it
signed before, until they expire); revoking a bridge's keys (``manage.py ws_bridge_key
--revoke``, or the account losing ``gameserver`` or being deactivated or deleted) stops them
verifying anything, and a revoked key's tokens are revoked with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone as django_timezone

from accounts import permissions as perms
from accounts.models import BridgeSigningKey, IssuedToken
from accounts.services import load_principal
from realtime import tokens
from realtime.protocol import InvalidToken

log = logging.getLogger(__name__)

KID_PREFIX = "bk-"
SERVER_CLAIM = "server"


def derive(kid: str) -> bytes:
    """The key material of ``kid`` (32 bytes); it exists only where it is computed."""
    return hmac.new(settings.WS_JWT_SECRET.encode(), f"bridge-signing-key:{kid}".encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rotation() -> timedelta:
    return tokens.parse_duration(settings.WS_BRIDGE_KEY_ROTATION)


def current_key(user_id: int) -> BridgeSigningKey:
    """The bridge account's current key: made, or rotated when older than
    WS_BRIDGE_KEY_ROTATION (the older ones retired)."""
    now = django_timezone.now()
    with transaction.atomic():
        live = list(
            BridgeSigningKey.objects.select_for_update()
            .filter(user_id=user_id, retired_at__isnull=True, revoked_at__isnull=True)
            .order_by("-created_at")
        )
        if live and live[0].created_at > now - rotation():
            return live[0]
        if live:
            BridgeSigningKey.objects.filter(pk__in=[k.pk for k in live]).update(retired_at=now)
        return BridgeSigningKey.objects.create(
            kid=f"{KID_PREFIX}{secrets.token_hex(12)}", user_id=user_id, created_at=now
        )


def policy() -> dict:
    """What the bridge may sign (the owner's allow-list), as delivered with its key."""
    return {
        "subjects": list(settings.WS_BRIDGE_MINT_SUBJECTS),
        "permissions": [p for p in settings.WS_BRIDGE_MINT_PERMISSIONS if p not in {perms.ADMIN, perms.GAMESERVER}],
        "maxLifetime": int(tokens.parse_duration(settings.WS_BRIDGE_MINT_MAX_LIFETIME).total_seconds()),
    }


def delivery(user_id: int, username: str) -> dict | None:
    """The ``signingKey`` frame's data for a bridge account, or None when it may have none
    (inactive, or without the ``gameserver`` grant)."""
    principal = load_principal(username)
    if principal is None or principal.user_id != user_id or perms.GAMESERVER not in principal.grants:
        return None
    key = current_key(user_id)
    return {
        "kid": key.kid,
        "key": _b64(derive(key.kid)),
        "algorithm": "HS256",
        "server": username,
        "rotatesAt": int((key.created_at + rotation()).timestamp()),
        **policy(),
    }


def revoke(user: Any, *, by: Any = None, reason: str = "bridge key revoked") -> int:
    """Revoke every key of bridge account ``user`` and the tokens they signed; how many keys."""
    from accounts.tokens import revoke_tokens

    with transaction.atomic():
        count = BridgeSigningKey.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=django_timezone.now()
        )
        revoke_tokens(IssuedToken.objects.filter(signing_key__user=user), by=by, reason=reason)
    return count


def rotate(user: Any) -> BridgeSigningKey:
    """Retire the current key of bridge account ``user`` now and make a new one."""
    BridgeSigningKey.objects.filter(user=user, retired_at__isnull=True, revoked_at__isnull=True).update(
        retired_at=django_timezone.now()
    )
    return current_key(user.pk)


# -- verifying what a bridge signed ----------------------------------------------------


def signed_by_bridge(raw: object) -> bool:
    """Whether a token's (unverified) header names a bridge key."""
    if not isinstance(raw, str) or len(raw) > 8192:
        return False
    try:
        kid = jwt.get_unverified_header(raw).get("kid")
    except jwt.PyJWTError:
        return False
    return isinstance(kid, str) and kid.startswith(KID_PREFIX)


def _refuse(why: str, kid: str) -> InvalidToken:
    log.info("bridge-signed token refused (key %s): %s", kid, why)  # never the token itself
    return InvalidToken()


def _when(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def verify(raw: str) -> dict:
    """The payload of a token a bridge signed, once verified with its key, within the
    allow-list, and registered; else :class:`InvalidToken`. Runs off the event loop."""
    from realtime.api import TokenRequestError, check_bridge_mint

    try:
        kid = jwt.get_unverified_header(raw).get("kid")
    except jwt.PyJWTError:
        raise InvalidToken() from None
    key = BridgeSigningKey.objects.select_related("user").filter(kid=kid).first()
    if key is None:
        raise _refuse("no such key", kid)
    if key.revoked_at is not None:
        raise _refuse("the key is revoked", kid)
    try:
        payload = jwt.decode(
            raw, derive(kid), algorithms=["HS256"], leeway=settings.WS_TOKEN_LEEWAY,
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise _refuse(f"signature or claims: {type(exc).__name__}", kid) from None
    _check_claims(payload, kid)
    if payload.get(SERVER_CLAIM) != key.user.username:
        raise _refuse("it names another server", kid)
    leeway = settings.WS_TOKEN_LEEWAY
    iat, exp = float(payload["iat"]), float(payload["exp"])
    if iat > time.time() + leeway:
        raise _refuse("issued in the future", kid)
    if iat < key.created_at.timestamp() - leeway:
        raise _refuse("issued before the key existed", kid)
    retired = _when(key.retired_at)
    if retired is not None and iat > retired + leeway:
        raise _refuse("signed after the key was retired", kid)
    # The bridge account must still be a bridge: active, holding gameserver.
    bridge = load_principal(key.user.username)
    if bridge is None or perms.GAMESERVER not in bridge.grants:
        raise _refuse("its bridge account is inactive or lacks gameserver", kid)
    subject = load_principal(payload["sub"])
    if subject is None:
        raise _refuse("no active user by that subject", kid)
    try:
        check_bridge_mint(subject, list(payload["permissions"]), timedelta(seconds=max(exp - iat, 1)))
    except TokenRequestError as exc:
        raise _refuse(f"outside the allow-list: {exc}", kid) from None
    if perms.expand(payload["permissions"]) - subject.grants:
        raise _refuse("the subject does not hold what it names", kid)  # as generate_token refuses
    _register(payload, key)
    return payload


def _check_claims(payload: dict, kid: str) -> None:
    for name in ("iat", "exp"):
        value = payload.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= tokens.MAX_EPOCH:
            raise _refuse(f"{name} is not a time", kid)
    sub, jti, permissions = payload.get("sub"), payload.get("jti"), payload.get("permissions", [])
    if not isinstance(sub, str) or not sub:
        raise _refuse("no subject", kid)
    if not isinstance(jti, str) or not 8 <= len(jti) <= 64:
        raise _refuse("no token id", kid)
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise _refuse("permissions are not a list of names", kid)
    if perms.unknown(permissions):
        raise _refuse("unknown permissions", kid)
    if payload.get("token_type", "ws") != "ws":
        raise _refuse("wrong token type", kid)


def _register(payload: dict, key: BridgeSigningKey) -> None:
    """Record the token at its first use (the platform did not mint it); a second use
    must match the first record (same key, same subject)."""
    from accounts.tokens import register_issued_token

    existing = IssuedToken.objects.filter(jti=payload["jti"]).values_list("signing_key_id", "user__username").first()
    if existing is None:
        try:
            with transaction.atomic():
                row = register_issued_token(
                    payload, label=f"signed by the game server's bridge ({key.user.username})",
                    issued_by=key.user_id,
                )
                IssuedToken.objects.filter(pk=row.pk).update(signing_key=key)
            return
        except IntegrityError:  # registered meanwhile by a concurrent auth
            existing = IssuedToken.objects.filter(jti=payload["jti"]).values_list(
                "signing_key_id", "user__username"
            ).first()
    if existing is None or existing != (key.pk, payload["sub"]):
        raise _refuse("its token id belongs to another token", key.kid)
