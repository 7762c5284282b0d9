"""Socket tokens for the web admin's own pages: short-lived, within the user's grants."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from accounts import permissions as perms
from accounts.services import load_principal
from realtime import api, tokens

LABEL = "web admin"
SESSION_KEY = "webui_token_jtis"  # the jtis minted for this login, revoked at logout
MAX_REMEMBERED = 200


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


def mint_session_token(user: AbstractBaseUser) -> SessionToken | None:
    """A registered token for ``user`` (None when the user is not active)."""
    principal = load_principal(user.get_username())
    if principal is None:
        return None
    wanted = page_permissions(principal.grants)
    token = api.generate_token(
        principal.username, wanted, settings.WEBUI_TOKEN_LIFETIME, label=LABEL, issued_by=user
    )
    payload = tokens.verify(token)
    return SessionToken(token, payload["jti"], int(payload["exp"]), wanted)


def remember(session, jti: str) -> None:  # noqa: ANN001
    """Note a jti minted for this login session (newest last, bounded)."""
    jtis = [*session.get(SESSION_KEY, []), jti][-MAX_REMEMBERED:]
    session[SESSION_KEY] = jtis


def revoke_on_logout(sender, request, user, **kwargs) -> None:  # noqa: ANN001, ANN003
    """user_logged_out: the tokens this login's pages got stop working (sockets close)."""
    from accounts.models import IssuedToken
    from accounts.tokens import revoke_tokens

    jtis = request.session.get(SESSION_KEY, []) if request is not None else []
    if user is not None and jtis:
        revoke_tokens(IssuedToken.objects.filter(user=user, jti__in=jtis), by=user, reason="logout")
