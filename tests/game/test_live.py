"""End to end over real sockets: ``manage.py simulate_server`` as its own process against
a real ``manage.py serve`` process, admins on the ``websockets`` client library."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.helpers import spec_part
from tests.live import LiveClient, Platform, start_simulator, token

pytestmark = pytest.mark.live



@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def game_platform(request, tmp_path):
    """A migrated platform on SQLite, or on a fresh PostgreSQL database when reachable."""
    env = request.getfixturevalue("postgres_env") if request.param == "postgres" else {}
    platform = Platform(tmp_path, env)
    try:
        platform.migrate()
        yield platform
    finally:
        platform.stop_all()


def test_admin_kicks_and_bans_a_simulated_player_over_real_sockets(game_platform):
    platform = game_platform
    platform.shell(
        "from tests.helpers import make_user; make_user('boss', superuser=True); "
        "make_user('viewer', ['players.view', 'bans.view'])"
    )
    server = platform.start()
    sim = None
    try:
        sim, out = asyncio.run(_scenario(platform, server))
        sim.terminate()
        assert sim.wait(10) == 0
        out.wait_for(r"^stopped$")
    finally:
        if sim is not None and sim.poll() is None:
            sim.kill()
            sim.wait(10)


async def _scenario(platform, server):  # noqa: ANN001, ANN202
    admin = await LiveClient.open(server.url, token(platform, "boss", ["admin"]))
    viewer = await LiveClient.open(server.url, token(platform, "viewer", ["players.view", "bans.view"]))
    sim, out = start_simulator(platform, server.url)
    out.wait_for(r"minting a token for service account 'gameserver'")

    # The simulated player joins: every client sees it, in the spec's shape.
    joined = (await admin.event("playerJoined"))["data"]
    source, name = joined["source"], joined["name"]
    assert joined["license"].startswith("license:")
    assert (await viewer.event("playerJoined"))["data"] == joined
    out.wait_for(rf"joined\s+#{source} {re.escape(name)}")

    # The admin kicks them: success, playerKicked to everyone, the game server did it.
    reply = await admin.ask("kickPlayer", {"source": source, "reason": "live test kick"}, "k1")
    assert reply == {"event": "success", "data": {"message": f"Player {source} kicked"}, "requestId": "k1"}
    kicked = {"event": "playerKicked", "data": {"source": source, "reason": "live test kick", "server": "main"}}
    assert spec_part(await admin.event("playerKicked")) == kicked
    assert spec_part(await viewer.event("playerKicked")) == kicked
    out.wait_for(rf"kicked\s+#{source} {re.escape(name)}: live test kick")

    # They come back; the admin bans them; they are refused from then on.
    rejoined = (await admin.wait(lambda f: f["event"] == "playerJoined" and f["data"]["source"] != source))["data"]
    assert rejoined["name"] == name
    reply = await admin.ask("banPlayer", {"source": rejoined["source"], "reason": "live ban", "duration": "1d"}, "b1")
    assert reply["event"] == "success", reply
    until = reply["data"]["ban"]["expiresAt"]
    assert (await viewer.event("playerBanned"))["data"]["source"] == rejoined["source"]
    out.wait_for(rf"banned\s+#{rejoined['source']} {re.escape(name)} until {until}: live ban")
    out.wait_for(rf"refused\s+{re.escape(name)} \(license:\w+\): banned until {until}: live ban")

    # The platform restarts; the simulator reconnects, re-sends its snapshot, and the
    # ban, kept in the database, still refuses the player.
    await admin.ws.close()
    await viewer.ws.close()
    server.stop()
    lost, _ = out.wait_for(r"lost\s+connection")
    platform.start(port=server.port)
    snapshot, _ = out.wait_for(r"snapshot 0 players online", after=lost)
    out.wait_for(rf"refused\s+{re.escape(name)} .*live ban", after=snapshot)
    admin = await LiveClient.open(server.url, token(platform, "boss", ["admin"]))
    assert (await admin.ask("getPlayers", None, "p"))["data"] == {"players": []}
    bans = (await admin.ask("getBans", {}, "bans"))["data"]["bans"]
    assert [(b["name"], b["reason"]) for b in bans] == [(name, "live ban")]
    stats = (await admin.ask("getStats", None, "s"))["data"]
    assert stats["online"] is True and stats["onlinePlayers"] == 0
    log = (await admin.ask("getAuditLog", {}, "a"))["data"]["entries"]
    assert [(e["action"], e["outcome"]) for e in log][:2] == [("player.ban", "ok"), ("player.kick", "ok")]
    await admin.ws.close()
    return sim, out
