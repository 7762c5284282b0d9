"""Several game servers over real sockets (issue 14): ``manage.py game_server add`` makes
two servers and their bridge tokens, two ``simulate_server --token`` processes play them,
against one ``serve`` process, then against two sharing Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.live import LiveClient, Platform, start_simulator, token

pytestmark = pytest.mark.live

SIM = ("--players", "2", "--online", "2", "--pace", "0", "--seed")


def add_servers(platform: Platform) -> dict[str, str]:
    """main (the default) and dev; slug -> bridge token (the command's last line)."""
    platform.shell("from tests.helpers import make_user; make_user('boss', superuser=True)")
    tokens = {}
    for slug, name in (("main", "Main server"), ("dev", "Development")):
        out = platform.manage("game_server", "add", slug, "--name", name).stdout
        tokens[slug] = out.strip().splitlines()[-1]
    listed = platform.manage("game_server", "list").stdout
    assert re.search(r"^main\s+Main server\s+default\s+gameserver-main", listed, re.M), listed
    assert re.search(r"^dev\s+Development\s+gameserver-dev", listed, re.M), listed
    return tokens


async def both_online(admin: LiveClient) -> dict[str, dict]:
    """getServers until both servers are online with their two players each."""
    for attempt in range(200):
        servers = (await admin.ask("getServers", None, f"servers-{attempt}"))["data"]["servers"]
        by_slug = {s["slug"]: s for s in servers}
        if all(by_slug.get(slug, {}).get("players") == 2 and by_slug[slug]["online"] for slug in ("main", "dev")):
            return by_slug
        await admin.event("gameServerStatus", timeout=20)  # wait for the next change, not a sleep
    raise AssertionError(f"servers never both online: {servers}")


async def kick_on_dev(admin: LiveClient, outputs: dict) -> None:
    """A kick naming server dev reaches dev's simulator, and only it."""
    dev_players = (await admin.ask("getPlayers", {"server": "dev"}, "p-dev"))["data"]["players"]
    main_players = (await admin.ask("getPlayers", {}, "p-main"))["data"]["players"]
    assert len(dev_players) == 2 and len(main_players) == 2
    assert {p["name"] for p in dev_players} != {p["name"] for p in main_players}, "each server its own world"
    target = dev_players[0]
    reply = await admin.ask("kickPlayer", {"source": target["source"], "reason": "dev kick", "server": "dev",
                                           "name": target["name"]}, "k")
    assert reply["event"] == "success", reply
    kicked = await admin.wait(lambda f: f["event"] == "playerKicked")
    assert kicked["data"] == {"source": target["source"], "reason": "dev kick", "server": "dev"}
    outputs["dev"].wait_for(rf"kicked\s+#{target['source']} {re.escape(target['name'])}: dev kick")
    assert not [line for line in outputs["main"].lines if line.startswith("kicked")]


def run_scenario(platform: Platform, tokens: dict[str, str], urls: dict[str, str], admin_url: str) -> None:
    sims, outputs = {}, {}
    try:
        for seed, slug in enumerate(("main", "dev"), start=1):
            sims[slug], outputs[slug] = start_simulator(platform, urls[slug], "--token", tokens[slug], *SIM, str(seed))

        async def scenario() -> None:
            admin = await LiveClient.open(admin_url, token(platform, "boss", ["admin"]))
            by_slug = await both_online(admin)
            assert by_slug["main"]["default"] is True and by_slug["dev"]["name"] == "Development"
            await kick_on_dev(admin, outputs)
            await admin.ws.close()

        asyncio.run(scenario())
    finally:
        for proc in sims.values():
            proc.terminate()
        for proc in sims.values():
            proc.wait(10)


def test_two_simulated_servers_on_one_platform_process(platform):
    tokens = add_servers(platform)
    server = platform.start()
    run_scenario(platform, tokens, {"main": server.url, "dev": server.url}, server.url)


@pytest.mark.redis
@pytest.mark.postgres
def test_a_kick_sent_to_one_process_reaches_dev_s_bridge_on_the_other(tmp_path, redis_env, postgres_env):
    platform = Platform(tmp_path, {**redis_env, **postgres_env})
    try:
        platform.migrate()
        tokens = add_servers(platform)
        a, b = platform.start(), platform.start()
        # main's bridge on A, dev's bridge on B; the admin asks A.
        run_scenario(platform, tokens, {"main": a.url, "dev": b.url}, a.url)
    finally:
        platform.stop_all()
