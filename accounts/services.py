"""What a platform user may do on the socket, answered from a cache the signals keep true.

``authenticate`` costs at most one database query: the user's grants and the token's
registry state are read together, and both are cached (Django's cache; Redis when
``REDIS_URL`` is set) until ``accounts.signals`` forgets them on a committed change, or for
``WS_ACCESS_CACHE_TTL`` seconds at most (0 turns the cache off).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from accounts.permissions import ADMIN, CATALOGUE, expand

log = logging.getLogger(__name__)

# Cached states beside a Principal: the user is not an active user; the token id is not in
# the registry (minted outside the platform). A registered token is (user_id, revoked).
NOBODY = "nobody"
UNREGISTERED = "unregistered"


@dataclass(frozen=True)
class Principal:
    """An active user as the socket sees them: who, and the permissions granted to them."""

    user_id: int
    username: str
    grants: frozenset[str]
    # is_staff or is_superuser: an account of the platform's staff (the bridge never mints
    # for one).
    staff: bool = False
    # Epoch seconds: tokens whose iat is not after it are refused (accounts.TokenFloor).
    tokens_after: float | None = None


def _key(kind: str, name: str) -> str:
    # Hashed: a subject or jti is any string a token carries; cache keys must stay short
    # and free of spaces and control characters.
    return f"accounts:{kind}:{hashlib.blake2b(name.encode(), digest_size=16).hexdigest()}"


def principal_key(username: str) -> str:
    return _key("principal", username)


def token_key(jti: str) -> str:
    return _key("token", jti)


def _query(username: str, jti: str | None) -> tuple[Principal | None, Any]:
    """One query: the active user's grants and, for a ``jti``, the token's registry state."""
    from accounts.models import IssuedToken, TokenFloor

    users = get_user_model().objects.filter(username=username, is_active=True).annotate(
        tokens_after=Subquery(TokenFloor.objects.filter(user=OuterRef("pk")).values("not_before")[:1])
    )
    fields = [
        "id",
        "is_superuser",
        "is_staff",
        "user_permissions__content_type__app_label",
        "user_permissions__codename",
        "groups__permissions__content_type__app_label",
        "groups__permissions__codename",
        "tokens_after",
    ]
    if jti:
        token = IssuedToken.objects.filter(jti=jti)
        users = users.annotate(
            issued_to=Subquery(token.values("user_id")[:1]),
            issued_revoked=Exists(token.filter(revoked_at__isnull=False)),
        )
        fields += ["issued_to", "issued_revoked"]
    rows = list(users.values_list(*fields))
    if not rows:
        return None, None
    user_id, is_superuser, is_staff, after = rows[0][0], rows[0][1], rows[0][2], rows[0][7]
    names: set[str] = {ADMIN} if is_superuser else set()
    for row in rows:
        for app, code in (row[3:5], row[5:7]):
            if app == "accounts" and code in CATALOGUE:
                names.add(code)
    principal = Principal(
        user_id=user_id,
        username=username,
        grants=expand(names),
        staff=bool(is_superuser or is_staff),
        tokens_after=after.timestamp() if after is not None else None,
    )
    state = None
    if jti:
        issued_to, revoked = rows[0][8], rows[0][9]
        state = UNREGISTERED if issued_to is None else (issued_to, bool(revoked))
    return principal, state


def load_principal(username: str) -> Principal | None:
    """The active user named ``username`` with their expanded grants, in one query (uncached)."""
    if not isinstance(username, str) or not username:
        return None
    return _query(username, None)[0]


def _cache_get(keys: list[str]) -> dict:
    try:
        return cache.get_many(keys)
    except Exception:  # noqa: BLE001 - a cache outage costs a query, never a refusal
        log.warning("accounts: cache unreachable; reading the database", exc_info=True)
        return {}


def _cache_set(values: dict) -> None:
    try:
        cache.set_many(values, settings.WS_ACCESS_CACHE_TTL)
    except Exception:  # noqa: BLE001
        log.warning("accounts: cache unreachable; not caching", exc_info=True)


def authenticate(payload: dict, *, fresh: bool = False) -> Principal | None:
    """The principal a verified token payload speaks for, or None when it must be refused.

    Refused: an unknown or inactive subject, a revoked token, a registered token of
    another user, an unregistered token issued before the subject's password last changed
    (or they were last deactivated), and, with WS_REQUIRE_REGISTERED_TOKENS, a token the
    platform did not mint. ``fresh`` reads the database even when the cache has an answer.
    """
    username, jti = payload.get("sub"), payload.get("jti") or None
    if not isinstance(username, str) or not username or not isinstance(jti, (str, type(None))):
        return None
    pkey, tkey = principal_key(username), token_key(jti) if jti else None
    cached = {} if fresh else _cache_get([k for k in (pkey, tkey) if k])
    principal, state = cached.get(pkey), cached.get(tkey) if tkey else None
    if principal == NOBODY:
        return None
    if principal is None or (tkey and state is None):
        principal, state = _query(username, jti)
        values = {pkey: principal or NOBODY}
        if tkey and principal is not None:
            values[tkey] = state
        _cache_set(values)
        if principal is None:
            return None
    if state is None or state == UNREGISTERED:
        if settings.WS_REQUIRE_REGISTERED_TOKENS:
            return None
        # Issued before the subject's password changed (or they were deactivated): a
        # registered token was revoked then; an unregistered one is refused here.
        iat = payload.get("iat")
        if principal.tokens_after is not None and (
            not isinstance(iat, (int, float)) or isinstance(iat, bool) or iat <= principal.tokens_after
        ):
            return None
        return principal
    issued_to, revoked = state
    if revoked or issued_to != principal.user_id:
        return None
    return principal


def refresh_principals(usernames: Iterable[str]) -> dict[str, Principal | None]:
    """Each user's current principal from the database (one query each), re-cached."""
    found = {username: load_principal(username) for username in set(usernames)}
    _cache_set({principal_key(u): p or NOBODY for u, p in found.items()})
    return found


def forget(*, usernames: Iterable[str] = (), jtis: Iterable[str] = ()) -> None:
    """Drop the cached principals and token states of these users and tokens."""
    keys = [principal_key(u) for u in usernames] + [token_key(j) for j in jtis]
    if keys:
        try:
            cache.delete_many(keys)
        except Exception:  # noqa: BLE001
            log.error("accounts: could not forget cached access for %d keys", len(keys))


def note_token_used(jti: str | None) -> bool:
    """Stamp a registered token's last_used_at, at most once per WS_TOKEN_USED_INTERVAL."""
    from accounts.models import IssuedToken

    if not jti:
        return False
    try:
        if cache.get(token_key(jti)) == UNREGISTERED:
            return False
        if not cache.add(_key("used", jti), True, settings.WS_TOKEN_USED_INTERVAL):
            return False
    except Exception:  # noqa: BLE001 - the stamp is a convenience, never worth an error
        return False
    return bool(IssuedToken.objects.filter(jti=jti).update(last_used_at=timezone.now()))
