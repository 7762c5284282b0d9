"""Socket tokens for the web admin's own pages: short-lived, within the user's grants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts import permissions as perms
from accounts.services import load_principal
from realtime import api, tokens

LABEL = "web admin"


@dataclass(frozen=True)
class SessionToken:
    token: str
    jti: str
    expires_at: int
    permissions: list[str]


def page_permissions(grants: frozenset[str]) -> list[str]:
    """What a page's token asks for: the user's grants, less ``gameserver`` (a browser
    never acts as the game server's bridge)."""
    return perms.ordered(grants - {perms.GAMESERVER})


def session_hash(session_key: str) -> str:
    """What the registry keeps of a login session: a keyed one-way hash of its key."""
    return salted_hmac("webui.session-token", session_key, algorithm="sha256").hexdigest()


def fresh_page_token(user: AbstractBaseUser, wanted: list[str], hashed: str) -> SessionToken | None:
    """The session's newest page token again, while it has more than half its lifetime (and
    more than twice WS_TOKEN_EXPIRY_WARNING) left and carries exactly ``wanted``: reloading pages does not grow the registry. The token
    text is never stored; it is signed again from its registry row (same claims, same jti),
    so revoking that row still ends it."""
    from accounts.models import IssuedToken

    # Never one the socket is about to warn of (tokenExpiring): the page asks here to renew.
    keep = max(tokens.parse_duration(settings.WEBUI_TOKEN_LIFETIME) / 2,
               timedelta(seconds=2 * settings.WS_TOKEN_EXPIRY_WARNING))
    row = (
        IssuedToken.objects.filter(user=user, session_hash=hashed, label=LABEL, revoked_at__isnull=True,
                                   expires_at__gt=timezone.now() + keep)
        .order_by("-issued_at").first()
    )
    if row is None or row.permissions != wanted:
        return None
    token = tokens.resign(user.get_username(), row.permissions, row.jti, row.issued_at, row.expires_at)
    return SessionToken(str(token), row.jti, int(row.expires_at.timestamp()), wanted)


def mint_session_token(user: AbstractBaseUser, session) -> SessionToken | None:  # noqa: ANN001
    """A registered token for ``user``, tied to the login ``session`` (None when the user
    is not active): the session's still-fresh one if it has one, else a new one."""

    principal = load_principal(user.get_username())
    if principal is None:
        return None
    wanted = page_permissions(principal.grants)
    if session.session_key is None:
        session.save()
    reused = fresh_page_token(user, wanted, session_hash(session.session_key))
    if reused is not None:
        return reused
    token = api.generate_token(
        principal.username, wanted, settings.WEBUI_TOKEN_LIFETIME, label=LABEL, issued_by=user,
        session_hash=session_hash(session.session_key),
    )
    payload = tokens.verify(token)
    return SessionToken(token, payload["jti"], int(payload["exp"]), wanted)


def revoke_on_logout(sender, request, user, **kwargs) -> None:  # noqa: ANN001, ANN003
    """user_logged_out: every token this login's pages got stops working (sockets close),
    however many."""
    from accounts.models import IssuedToken
    from accounts.tokens import revoke_tokens

    key = request.session.session_key if request is not None else None
    if user is not None and key:
        revoke_tokens(
            IssuedToken.objects.filter(user=user, session_hash=session_hash(key), revoked_at__isnull=True),
            by=user, reason="logout",
        )
