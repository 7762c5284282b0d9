"""Faults the platform must ride out by itself."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.helpers import spec_token
from tests.security.tcpproxy import TcpProxy
from tests.security.wsclient import LiveClient, authed

pytestmark = [pytest.mark.live, pytest.mark.postgres]

async def test_postgres_unreachable_for_a_moment(platform, postgres_env):
    from django.conf import settings

    platform.env["WS_JWT_SECRET"] = settings.WS_JWT_SECRET
    platform.env.update(postgres_env)
    # The bridge mints only what the owner lists (docs/SECURITY.md, "Who can mint what").
    platform.env.update(WS_BRIDGE_MINT_SUBJECTS="viewer", WS_BRIDGE_MINT_PERMISSIONS="stats.view")
    database = urlparse(postgres_env["DATABASE_URL"])
    platform.migrate()
    platform.shell(
        "from tests.helpers import make_user; "
        "make_user('viewer', ['stats.view']); make_user('bridge', ['gameserver'])"
    )
    proxy = TcpProxy((database.hostname, database.port or 5432))
    try:
        proc = platform.start(
            "daphne",
            DATABASE_URL=database._replace(netloc=f"{database.username}@127.0.0.1:{proxy.port}").geturl(),
            DATABASE_CONNECT_TIMEOUT="2",
        )
        bridge = await authed(proc.url, spec_token("bridge", ["gameserver"]))
        token = {"sub": "viewer", "permissions": ["stats.view"], "expiresIn": "1h"}
        assert (await bridge.request("generateToken", token, "g1"))["event"] == "token"

        proxy.cut()  # the database goes away, open connections included
        newcomer = await LiveClient.open(proc.url)
        viewer_token = spec_token("viewer", ["stats.view"])
        reply = await newcomer.request("auth", {"token": viewer_token}, "a1")
        assert reply == {
            "event": "error",
            "data": {"message": "The platform cannot answer right now; try again",
                     "code": "service_unavailable"},
            "requestId": "a1",
        }
        reply = await bridge.request("generateToken", token, "g2")
        assert (reply["data"]["code"], reply["requestId"]) == ("service_unavailable", "g2")
        # What needs no database still works, and the sockets stay open.
        assert (await bridge.request("ping", request_id="p"))["event"] == "pong"

        proxy.restore()  # the database is back: the very next requests succeed
        assert (await newcomer.request("auth", {"token": viewer_token}, "a2"))["event"] == "authenticated"
        assert (await bridge.request("generateToken", token, "g3"))["event"] == "token"
        log = proc.log()
        assert "database unavailable (OperationalError)" in log
        assert "Traceback" not in log
        assert proc.proc.poll() is None
        await newcomer.close()
        await bridge.close()
    finally:
        platform.stop_all()
        proxy.cut()
