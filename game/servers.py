"""Managing the game servers (synchronous ORM code): add, list, bridge tokens, remove,
default. ``manage.py game_server`` and Django admin call these.

Each server has its own bridge account (``gameserver-<slug>``, no usable password,
holding only the ``gameserver`` grant): its tokens speak for that server and no other.
Removing a server deactivates its account, so its tokens are refused at ``auth`` and
its open bridge socket closes (accounts' deactivation, 4003).
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.validators import validate_slug
from django.db import transaction

from game import server as game_server
from game.models import GameServer

ACCOUNT_PREFIX = "gameserver-"
BRIDGE_TOKEN_LIFETIME = "365d"


class ServerError(ValueError):
    """A server cannot be added, found or changed as asked (the message says why)."""


def account_name(slug: str) -> str:
    return f"{ACCOUNT_PREFIX}{slug}"


def _bridge_account(slug: str):  # noqa: ANN202
    user, _ = get_user_model().objects.get_or_create(username=account_name(slug))
    user.set_unusable_password()
    user.is_active, user.is_staff, user.is_superuser = True, False, False
    user.save()
    user.user_permissions.set([Permission.objects.get(content_type__app_label="accounts", codename="gameserver")])
    return user


def add(slug: str, name: str = "", max_players: int = 0) -> GameServer:
    """A new game server with its bridge account; the first one is the default. The
    ``main`` server the platform made for a bridge without an account is adopted."""
    try:
        validate_slug(slug)
    except Exception:  # noqa: BLE001 - Django's ValidationError, said plainly
        raise ServerError(f"{slug!r} is not a slug: letters, digits, - and _") from None
    if slug == game_server.ALL or len(slug) > 50:
        raise ServerError(f"{slug!r} cannot be a server's slug")
    with transaction.atomic():
        existing = GameServer.objects.select_for_update().filter(slug=slug).first()
        if existing is not None and existing.account_id is not None:
            raise ServerError(f"game server {slug!r} exists already")
        server = existing or GameServer(slug=slug)
        server.name = name or server.name
        server.max_players = max_players or server.max_players
        server.account = _bridge_account(slug)
        server.is_default = server.is_default or not GameServer.objects.filter(is_default=True).exists()
        server.save()
    game_server.servers_changed()
    return server


def get(slug: str) -> GameServer:
    """The server named ``slug``, or :class:`ServerError`."""
    server = GameServer.objects.select_related("account").filter(slug=slug).first()
    if server is None:
        known = ", ".join(GameServer.objects.values_list("slug", flat=True)) or "none"
        raise ServerError(f"no game server {slug!r} (known: {known})")
    return server


def token(slug: str, expires_in: str = BRIDGE_TOKEN_LIFETIME) -> str:
    """A new bridge token for the server (its account created when it has none)."""
    from realtime.api import generate_token

    server = get(slug)
    if server.account_id is None or not server.account.is_active:
        server.account = _bridge_account(slug)
        server.save(update_fields=["account"])
    return generate_token(server.account.get_username(), ["gameserver"], expires_in,
                          label=f"game_server token {slug}")


def remove(slug: str) -> None:
    """Delete the server (its online players and its scoped bans with it) and
    deactivate its bridge account; the default moves to the oldest server left."""
    with transaction.atomic():
        server = get(slug)
        account = server.account
        was_default = server.is_default
        ref = game_server.Ref(server.pk, server.slug)
        players = list(server.players.order_by("source").values("source", "name"))
        server.delete()
        if account is not None:
            account.is_active = False
            account.save()
        if was_default:
            heir = GameServer.objects.order_by("created_at", "id").first()
            if heir is not None:
                GameServer.objects.filter(pk=heir.pk).update(is_default=True)
    game_server.servers_changed()
    async_to_sync(game_server.tell_gone)(ref, players)  # its players leave, as when a bridge goes


def make_default(slug: str) -> GameServer:
    """Requests without ``data.server`` go to this server from now on."""
    with transaction.atomic():
        server = get(slug)
        GameServer.objects.filter(is_default=True).exclude(pk=server.pk).update(is_default=False)
        GameServer.objects.filter(pk=server.pk).update(is_default=True)
    game_server.servers_changed()
    return get(slug)


def listing() -> list[dict]:
    """Every server as ``game_server list`` prints it."""
    return [
        {"slug": s.slug, "name": s.display_name, "default": s.is_default,
         "account": s.account.get_username() if s.account_id else "",
         "bridge": s.bridge_client_id, "connected_at": s.connected_at, "max_players": s.max_players}
        for s in GameServer.objects.select_related("account")
    ]
