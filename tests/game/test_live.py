"""End to end over real sockets: ``manage.py simulate_server`` as its own process against
a real ``manage.py serve`` process, admins on the ``websockets`` client library."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import pytest
from websockets.asyncio.client import connect

from tests.helpers import spec_token
from tests.live import ROOT, Platform, reachable

pytestmark = pytest.mark.live

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def game_platform(request, tmp_path):
    """A migrated platform on SQLite, or on a fresh PostgreSQL database when reachable."""
    env, database = {}, None
    if request.param == "postgres":
        url = urlparse(POSTGRES)
        if not reachable(url.hostname or "127.0.0.1", url.port or 5432):
            pytest.skip(f"PostgreSQL is not reachable at {url.hostname}:{url.port} (TEST_POSTGRES_URL)")
        import psycopg

        database = f"test_game_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        env = {"DATABASE_URL": url._replace(path=f"/{database}").geturl()}
    platform = Platform(tmp_path, env)
    try:
        platform.migrate()
        yield platform
    finally:
        platform.stop_all()
        if database:
            import psycopg

            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


class Output:
    """A process's stdout, read line by line by a thread; wait for a line with a timeout."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 20, after: int = 0) -> tuple[int, re.Match]:
        """(index, match) of the first line at or after ``after`` matching ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for i in range(after, len(self.lines)):
                if match := regex.search(self.lines[i]):
                    return i, match
            after = len(self.lines)
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {timeout}s:\n" + "\n".join(self.lines)) from None
            if line is None:
                raise AssertionError("the simulator exited:\n" + "\n".join(self.lines))
            self.lines.append(line)


class LiveClient:
    """An authenticated socket (websockets library) that keeps every frame it received."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.frames = ws, []

    @classmethod
    async def open(cls, url: str, token: str) -> LiveClient:
        ws = await connect(url)
        assert json.loads(await ws.recv())["event"] == "connected"
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        reply = json.loads(await ws.recv())
        assert reply["event"] == "authenticated", reply
        return cls(ws)

    async def wait(self, predicate, timeout: float = 20) -> dict:  # noqa: ANN001
        """The first frame not yet consumed that satisfies ``predicate``."""
        async def scan() -> dict:
            while True:
                for i, frame in enumerate(self.frames):
                    if predicate(frame):
                        self.frames.pop(i)
                        return frame
                self.frames.append(json.loads(await self.ws.recv()))

        return await asyncio.wait_for(scan(), timeout)

    async def event(self, name: str, timeout: float = 20) -> dict:
        return await self.wait(lambda f: f["event"] == name, timeout)

    async def ask(self, event: str, data: Any, request_id: str, timeout: float = 20) -> dict:
        await self.ws.send(json.dumps({"event": event, "data": data, "requestId": request_id}))
        return await self.wait(lambda f: f.get("requestId") == request_id, timeout)


def token(platform, sub: str, permissions: list[str]) -> str:  # noqa: ANN001
    # Signed with the server processes' secret: this process's settings may hold another
    # one (pytest-django configures settings before conftest.py sets WS_JWT_SECRET).
    return spec_token(sub, permissions, secret=platform.env["WS_JWT_SECRET"])


def start_simulator(platform, url: str) -> tuple[subprocess.Popen, Output]:  # noqa: ANN001
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_server", "--url", url, "--players", "1", "--online", "0",
         "--pace", "0.2", "--seed", "3"],
        cwd=ROOT, env=platform.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return proc, Output(proc)


def test_admin_kicks_and_bans_a_simulated_player_over_real_sockets(game_platform):
    platform = game_platform
    platform.shell(
        "from tests.helpers import make_user; make_user('boss', superuser=True); "
        "make_user('viewer', ['players.view'])"
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
    viewer = await LiveClient.open(server.url, token(platform, "viewer", ["players.view"]))
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
    kicked = {"event": "playerKicked", "data": {"source": source, "reason": "live test kick"}}
    assert await admin.event("playerKicked") == kicked
    assert await viewer.event("playerKicked") == kicked
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
