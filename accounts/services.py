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
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.permissions import ADMIN, CATALOGUE, GAMESERVER, expand

log = logging.getLogger(__name__)

# Cached states beside a Principal: the user is not an active user; the token id is not in
# the registry (minted outside the platform). A registered token is (user_id, revoked).
NOBODY = "nobody"
UNREGISTERED = "unregistered"
# In a registered token's state (user_id, revoked, issuer, issuer_id): the token was minted by another
# user, since deleted (IssuedToken.issuer_name kept, issued_by now null).
ISSUER_DELETED = "issuer-deleted"


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
    # Set on what authenticate() returns for a token another user minted for this one: the
    # issuer's id and username (its grants already bound ``grants``).
    issuer_id: int | None = None
    issuer: str | None = None


def mint_bound(issuer: Principal) -> frozenset[str]:
    """What a token minted by ``issuer`` for someone else may still grant: the issuer's
    current grants; for the game server's bridge (``gameserver``), what the owner's
    allow-list lets it mint (WS_BRIDGE_MINT_PERMISSIONS, never admin or gameserver)."""
    if GAMESERVER not in issuer.grants:
        return issuer.grants
    allowed = expand(set(settings.WS_BRIDGE_MINT_PERMISSIONS) - {ADMIN, GAMESERVER}) - {ADMIN, GAMESERVER}
    return issuer.grants | allowed


def _key(kind: str, name: str) -> str:
    # Hashed: a subject or jti is any string a token carries; cache keys must stay short
    # and free of spaces and control characters.
    return f"accounts:{kind}:{hashlib.blake2b(name.encode(), digest_size=16).hexdigest()}"


def principal_key(username: str) -> str:
    return _key("principal", username)


def token_key(jti: str) -> str:
    return _key("token", jti)


def _query(username: str, jti: str | None) -> tuple[Principal | None, Any, Principal | None]:
    """One query: the active user's grants and, for a ``jti``, the token's registry state
    and, when another user minted it, that issuer's grants (their rows, in the same query).

    The state of a registered token is ``(user_id, revoked, issuer, issuer_id)``: ``issuer``
    is None (minted by the platform or by the subject), the issuer's current username, or
    ISSUER_DELETED. The third value is the issuer's principal (None: inactive or gone).
    """
    from accounts.models import IssuedToken, TokenFloor

    users = get_user_model().objects.annotate(
        tokens_after=Subquery(TokenFloor.objects.filter(user=OuterRef("pk")).values("not_before")[:1])
    )
    fields = [
        "id",
        "username",
        "is_active",
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
        users = users.filter(
            Q(username=username) | Q(pk__in=token.filter(issued_by__isnull=False).values("issued_by_id"))
        ).annotate(
            issued_to=Subquery(token.values("user_id")[:1]),
            issued_revoked=Exists(token.filter(revoked_at__isnull=False)),
            issuer_id=Subquery(token.values("issued_by_id")[:1]),
            issuer_name=Subquery(token.values("issuer_name")[:1]),
        )
        fields += ["issued_to", "issued_revoked", "issuer_id", "issuer_name"]
    else:
        users = users.filter(username=username)
    rows = list(users.values_list(*fields))
    by_id: dict[int, list[tuple]] = {}
    for row in rows:
        by_id.setdefault(row[0], []).append(row)
    found = {uid: _principal(urows) for uid, urows in by_id.items()}
    principal = next((p for p in found.values() if p is not None and p.username == username), None)
    if principal is None:
        return None, None, None
    state, issuer = None, None
    if jti:
        issued_to, revoked, issuer_id, issuer_name = rows[0][10:14]
        if issued_to is None:
            state = UNREGISTERED
        else:
            named: str | None = None
            if issuer_id is None and issuer_name:
                named = ISSUER_DELETED
            elif issuer_id is not None and issuer_id != issued_to:
                issuer = found.get(issuer_id)
                named = by_id[issuer_id][0][1] if issuer_id in by_id else ISSUER_DELETED
            state = (issued_to, bool(revoked), named, issuer_id)
    return principal, state, issuer


def _principal(rows: list[tuple]) -> Principal | None:
    """One user's principal from their rows of :func:`_query` (None: inactive)."""
    user_id, username, active, is_superuser, is_staff, after = (rows[0][i] for i in (0, 1, 2, 3, 4, 9))
    if not active:
        return None
    names: set[str] = {ADMIN} if is_superuser else set()
    for row in rows:
        for app, code in (row[5:7], row[7:9]):
            if app == "accounts" and code in CATALOGUE:
                names.add(code)
    return Principal(
        user_id=user_id,
        username=username,
        grants=expand(names),
        staff=bool(is_superuser or is_staff),
        tokens_after=after.timestamp() if after is not None else None,
    )


def load_principal(username: str) -> Principal | None:
    """The active user named ``username`` with their expanded grants, in one query (uncached)."""
    if not isinstance(username, str) or not username:
        return None
    return _query(username, None)[0]


def _issuer_name(state: Any) -> str | None:
    """The username of the other user who minted a registered token (None: none)."""
    if isinstance(state, tuple) and len(state) > 2 and isinstance(state[2], str) and state[2] != ISSUER_DELETED:
        return state[2]
    return None


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
    another user, a token another user minted once that issuer is inactive or deleted (else
    its grants are bounded by the issuer's: :func:`mint_bound`), an unregistered token issued before the subject's password last changed
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
    issuer, issuer_name = None, _issuer_name(state)
    if principal is not None and issuer_name is not None:
        # The issuer's cached principal (forgotten on their changes, like any user's); an
        # inactive issuer's answer is read again: it refuses the token.
        issuer = cached_issuer = _cache_get([principal_key(issuer_name)]).get(principal_key(issuer_name))
        if cached_issuer == NOBODY:
            issuer = None
    if principal is None or (tkey and state is None) or (issuer_name is not None and issuer is None):
        principal, state, issuer = _query(username, jti)
        values = {pkey: principal or NOBODY}
        if tkey and principal is not None:
            values[tkey] = state
            issuer_name = _issuer_name(state)
            if issuer_name is not None:
                values[principal_key(issuer_name)] = issuer or NOBODY
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
    issued_to, revoked, named, issuer_id = (*state, None, None)[:4]
    if revoked or issued_to != principal.user_id:
        return None
    if named is None:
        return principal
    # Minted by another user: refused once they are inactive or deleted; otherwise bounded
    # by what they may grant now (token ∩ subject's grants ∩ issuer's grants).
    if named == ISSUER_DELETED or issuer is None or issuer.user_id != issuer_id:
        return None
    return replace(
        principal, grants=principal.grants & mint_bound(issuer), issuer_id=issuer.user_id, issuer=issuer.username
    )


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
