"""How the export commands (ws_broadcast, ws_send, ws_clients) reach the server processes.

With REDIS_URL the channel layer crosses processes: the command speaks to the hubs itself
(realtime.api), after checking that at least one server process is alive. Without it an
in-memory layer would reach nobody, so the command calls the running server's HTTP API
instead (http://127.0.0.1:WS_PORT by default, or --url) with a short-lived token it mints
for a user holding ``gameserver`` (--as, else the first active one: the game server's account). When neither
way works the command fails and says what is missing: it never reports a success that
delivered nothing.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management.base import CommandError

TOKEN_LIFETIME = "2m"


def add_reach_arguments(parser) -> None:  # noqa: ANN001
    parser.add_argument("--url", help="the platform server to call without Redis (default http://127.0.0.1:WS_PORT)")
    parser.add_argument("--as", dest="as_user", help="the user holding gameserver to act as (default: the first one)")


def uses_layer() -> bool:
    """Whether the channel layer reaches the server processes (Redis)."""
    return bool(settings.REDIS_URL)


def require_live_servers() -> None:
    """With Redis: CommandError when no server process has a live heartbeat."""
    from realtime.presence import RedisPresence

    if not async_to_sync(RedisPresence().live_procs)():
        raise CommandError(
            "no platform server process is running (none has a heartbeat in Redis): nothing was sent"
        )


def _acting_user(name: str | None) -> str:
    """The user the command acts as: --as, else the first active user holding gameserver
    (the game server's service account; superusers do not hold it by default)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from accounts.services import load_principal

    if name:
        principal = load_principal(name)
        if principal is None or "gameserver" not in principal.grants:
            raise CommandError(f"--as {name}: no active user of that name holds gameserver")
        return name
    holds = Q(user_permissions__codename="gameserver", user_permissions__content_type__app_label="accounts") | Q(
        groups__permissions__codename="gameserver", groups__permissions__content_type__app_label="accounts"
    )
    for username in get_user_model().objects.filter(holds, is_active=True).distinct().order_by("pk").values_list(
        "username", flat=True
    )[:20]:
        principal = load_principal(username)
        if principal is not None and "gameserver" in principal.grants:
            return username
    raise CommandError(
        "without REDIS_URL this command calls the server's HTTP API as a user holding gameserver, and "
        "there is none: pass --as USERNAME, or grant gameserver to the game server's account (manage.py ws_grant)"
    )


def call_api(options: dict, method: str, path: str, body: Any = None, command: str = "") -> dict:
    """One HTTP API call to the running server; its JSON answer, or a CommandError."""
    from realtime.api import TokenRequestError, generate_token

    base = (options.get("url") or f"http://127.0.0.1:{settings.WS_PORT}").rstrip("/")
    try:
        token = generate_token(
            _acting_user(options.get("as_user")), ["gameserver"], TOKEN_LIFETIME, label=f"manage.py {command}"
        )
    except TokenRequestError as exc:
        raise CommandError(f"cannot mint the command's token: {exc}") from None
    request = urllib.request.Request(
        f"{base}/api/v1{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            data = json.loads(exc.read())["data"]
            reason = f"{data['message']} ({data['code']})"
        except (ValueError, KeyError, TypeError):
            reason = f"HTTP {exc.code}"
        raise CommandError(f"the server at {base} refused: {reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CommandError(
            f"no platform server answers at {base} ({getattr(exc, 'reason', exc)}) and REDIS_URL is not set: "
            "nothing was sent. Start the server (manage.py serve), pass --url, or set REDIS_URL."
        ) from None
