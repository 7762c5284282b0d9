"""Socket tokens for the web admin's own pages: short-lived, within the user's grants."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import salted_hmac
from django.contrib.auth.models import AbstractBaseUser

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


def mint_session_token(user: AbstractBaseUser, session) -> SessionToken | None:  # noqa: ANN001
    """A registered token for ``user``, tied to the login ``session`` (None when the user
    is not active)."""

    principal = load_principal(user.get_username())
    if principal is None:
        return None
    wanted = page_permissions(principal.grants)
    if session.session_key is None:
        session.save()
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
