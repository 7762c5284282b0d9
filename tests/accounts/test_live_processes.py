"""Rights changes reach sockets in every server process: real `serve` processes sharing Redis
and one database; the change is made by a third process; a real WebSocket client listens."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request

import pytest
from django.conf import settings

from realtime import protocol
from tests.helpers import spec_token
from tests.live import Platform, close_code, expect, open_authed, recv

pytestmark = [pytest.mark.live]

SETUP = """
from tests.helpers import make_user
from realtime.api import generate_token
from accounts.models import IssuedToken
make_user("bridge", ["gameserver", "stats.view"])
make_user("root", superuser=True, is_staff=True)
for label in ("doomed", "kept"):
    token = generate_token("bridge", ["gameserver", "stats.view"], "1h", label=label)
    print("TOKEN", label, token, IssuedToken.objects.get(label=label).jti)
"""


@pytest.fixture
def shared(tmp_path, redis_env, postgres_env):
    """Two server processes sharing Redis and PostgreSQL, and their minted tokens."""
    platform = Platform(tmp_path, {**redis_env, **postgres_env})
    platform.migrate()
    minted = {}
    for line in platform.shell(SETUP).splitlines():
        if line.startswith("TOKEN "):
            _, label, token, jti = line.split()
            minted[label] = (token, jti)
    servers = [platform.start(), platform.start()]
    yield platform, servers, minted
    platform.stop_all()


async def command(platform: Platform, *args: str) -> str:
    """A management command in a third process (off the event loop: the sockets keep reading)."""
    done = await asyncio.to_thread(platform.manage, *args)
    return done.stdout


@pytest.mark.redis
async def test_revocation_in_a_third_process_closes_sockets_in_both_servers(shared):
    platform, (one, two), minted = shared
    doomed, doomed_jti = minted["doomed"]
    first, _ = await open_authed(one.url, doomed)
    second, _ = await open_authed(two.url, doomed)
    kept, _ = await open_authed(two.url, minted["kept"][0])

    assert "revoked 1 token(s)" in await command(platform, "ws_revoke", doomed_jti)

    assert await close_code(first, timeout=1) == protocol.CLOSE_ACCESS_REVOKED
    assert await close_code(second, timeout=1) == protocol.CLOSE_ACCESS_REVOKED
    await kept.send(json.dumps({"event": "ping", "requestId": "still-here"}))
    assert (await expect(kept, "pong", timeout=5))["requestId"] == "still-here"
    await kept.close()


@pytest.mark.redis
async def test_grant_changes_and_deactivation_reach_both_servers(shared):
    platform, (one, two), minted = shared
    token = minted["kept"][0]
    sockets = [(await open_authed(one.url, token))[0], (await open_authed(two.url, token))[0]]

    await command(platform, "ws_grant", "bridge", "stats.view")
    for ws in sockets:
        changed = await expect(ws, "permissionsChanged", timeout=1)
        assert changed["data"] == {"permissions": ["stats.view"]}
        await ws.send(json.dumps({"event": "getConnectedClients", "requestId": "g"}))
        assert (await expect(ws, "error", timeout=5))["data"]["code"] == "permission_denied"

    await command(platform, "shell", "-c", (
        "from django.contrib.auth.models import User\n"
        "u = User.objects.get(username='bridge'); u.is_active = False; u.save()"
    ))
    for ws in sockets:
        assert await close_code(ws, timeout=1) == protocol.CLOSE_ACCESS_REVOKED


async def test_expiry_warning_close_and_reauth_over_a_real_socket(platform):
    platform.shell("from tests.helpers import make_user\nmake_user('viewer', ['stats.view'])")
    # The tokens below are signed here: the server must verify with this process's secret.
    server = platform.start(WS_TOKEN_EXPIRY_WARNING="1", WS_JWT_SECRET=settings.WS_JWT_SECRET)

    renewed, client_id = await open_authed(server.url, spec_token("viewer", ["stats.view"], lifetime=2))
    await expect(renewed, "tokenExpiring", timeout=3)
    await renewed.send(json.dumps({"event": "auth", "data": {"token": spec_token("viewer", ["stats.view"])}}))
    reply = await expect(renewed, "authenticated", timeout=3)
    assert reply["data"] == {"clientId": client_id, "permissions": ["stats.view"]}

    lapsed, _ = await open_authed(server.url, spec_token("viewer", ["stats.view"], lifetime=2))
    assert (await expect(lapsed, "tokenExpiring", timeout=3))["data"]["expiresIn"] in (0, 1)
    assert await expect(lapsed, "tokenExpired", timeout=3) == {"event": "tokenExpired"}
    assert await close_code(lapsed, timeout=1) == protocol.CLOSE_TOKEN_EXPIRED

    # The renewed socket outlived its first token.
    await renewed.send(json.dumps({"event": "ping", "requestId": "p"}))
    assert (await expect(renewed, "pong", timeout=3))["requestId"] == "p"
    await renewed.close()


class Browser:
    """A staff member's browser on the admin of a live server (cookies and CSRF)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict) -> str:
        self.get(path)  # sets the CSRF cookie
        csrf = next(c.value for c in self.jar if c.name == "csrftoken")
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": csrf}, doseq=True).encode()
        request = urllib.request.Request(self.base + path, body, headers={"Referer": self.base + path})
        with self.opener.open(request, timeout=10) as response:
            return response.read().decode()


@pytest.mark.redis
async def test_revoking_in_the_admin_of_one_server_closes_the_socket_on_the_other(shared):
    platform, (one, two), minted = shared
    doomed, doomed_jti = minted["doomed"]
    ws, _ = await open_authed(two.url, doomed)
    browser = Browser(one.http)
    await asyncio.to_thread(browser.post, "/admin/login/?next=/admin/", {"username": "root", "password": "pw-root"})
    listing = await asyncio.to_thread(browser.get, f"/admin/accounts/issuedtoken/?q={doomed_jti}")
    pk = re.search(r'name="_selected_action" value="(\d+)"', listing).group(1)

    done = await asyncio.to_thread(
        browser.post, "/admin/accounts/issuedtoken/", {"action": "revoke", "_selected_action": pk}
    )
    assert "Revoked 1 token(s)." in done
    assert await close_code(ws, timeout=1) == protocol.CLOSE_ACCESS_REVOKED

    # Minting on the same live admin: the new token works on the other server.
    bridge = re.search(r'href="/admin/auth/user/(\d+)/change/">bridge<', await asyncio.to_thread(browser.get, "/admin/auth/user/"))
    page = await asyncio.to_thread(
        browser.post,
        f"/admin/auth/user/{bridge.group(1)}/mint-token/",
        {"label": "live", "permissions": ["stats.view"], "expiry": "1h"},
    )
    token = re.search(r'id="minted-token"[^>]*value="([^"]+)"', page).group(1)
    fresh, _ = await open_authed(two.url, token)
    await fresh.close()
