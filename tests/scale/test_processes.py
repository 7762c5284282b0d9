"""Several server processes sharing Redis and PostgreSQL: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest

from tests.conftest import unavailable
from tests.live import LiveClient, Platform, free_port, reachable, start_simulator, token

pytestmark = [pytest.mark.live, pytest.mark.redis, pytest.mark.postgres]

USERS = "from tests.helpers import make_user; make_user('boss', superuser=True)"


@pytest.fixture
def cluster(tmp_path, redis_env, postgres_env):
    """A platform on PostgreSQL and Redis, ready to start processes."""
    p = Platform(tmp_path, {**redis_env, **postgres_env})
    p.migrate()
    p.shell(USERS)
    yield p
    p.stop_all()


async def test_admin_on_one_process_kicks_a_player_of_a_game_server_on_another(cluster):
    a, b = cluster.start(), cluster.start()
    sim, out = start_simulator(cluster, b.url)  # the bridge is on B
    try:
        admin = await LiveClient.open(a.url, token(cluster, "boss", ["admin"]))  # the admin on A
        watcher = await LiveClient.open(b.url, token(cluster, "boss", ["players.view"]))
        joined = (await admin.event("playerJoined"))["data"]
        assert (await watcher.event("playerJoined"))["data"] == joined
        players = (await admin.ask("getPlayers", None, "p"))["data"]["players"]
        assert [p["source"] for p in players] == [joined["source"]]

        reply = await admin.ask("kickPlayer", {"source": joined["source"], "reason": "cross"}, "k")
        assert reply == {"event": "success", "data": {"message": f"Player {joined['source']} kicked"}, "requestId": "k"}
        for client in (admin, watcher):
            kicked = await client.event("playerKicked")
            assert kicked["data"] == {"source": joined["source"], "reason": "cross", "server": "main"}
            # Exactly once per client: one broadcast crosses each process once.
            assert not [f for f in client.frames if f["event"] == "playerKicked"]
        out.wait_for(rf"kicked\s+#{joined['source']} .*: cross")
        await admin.ws.close()
        await watcher.ws.close()
    finally:
        sim.terminate()
        sim.wait(10)


class RedisServer:
    """A Redis of the test's own, so that restarting it disturbs nobody else."""

    def __init__(self, workdir) -> None:  # noqa: ANN001
        self.port, self.workdir, self.proc = free_port(), workdir, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", self.port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def test_a_redis_restart_is_survived(tmp_path, postgres_env):
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    redis = RedisServer(tmp_path)
    redis.start()
    cluster = Platform(tmp_path, {**postgres_env, "REDIS_URL": redis.url, "WS_PRESENCE_TTL": "3"})
    try:
        cluster.migrate()
        cluster.shell(USERS)
        a, b = cluster.start(), cluster.start()
        on_a = await LiveClient.open(a.url, token(cluster, "boss", ["players.view"]))
        on_b = await LiveClient.open(b.url, token(cluster, "boss", ["players.view"]))
        cluster.manage("ws_broadcast", "before", "{}")
        await on_a.event("before")
        await on_b.event("before")

        redis.stop()
        # While Redis is away the processes keep their sockets and answer what needs no Redis.
        assert (await on_a.ask("ping", None, "p1"))["event"] == "pong"
        redis.start()  # empty: groups, presence and cache are gone

        # Within a bounded time broadcasts from any process reach both again, and the
        # connected list is whole again (each process re-asserts its clients).
        deadline = time.monotonic() + 30
        n = 0
        while True:
            n += 1
            cluster.manage("ws_broadcast", "after", f'{{"n": {n}}}', check=False)
            try:
                await on_a.wait(lambda f: f["event"] == "after", timeout=1)
                await on_b.wait(lambda f: f["event"] == "after", timeout=1)
                break
            except (asyncio.TimeoutError, TimeoutError):
                assert time.monotonic() < deadline, "broadcasts did not resume after the Redis restart"
        while len(cluster.manage("ws_clients", "--ids").stdout.split()) != 2:
            assert time.monotonic() < deadline, "the connected list did not recover"
        assert (await on_b.ask("ping", None, "p2"))["event"] == "pong"
        await on_a.ws.close()
        await on_b.ws.close()
    finally:
        cluster.stop_all()
        redis.stop()


async def test_serve_processes_share_one_port_and_replace_a_dead_one(cluster):
    """`serve --processes 2`: two server processes on one port, a dead one started again."""
    import redis as redis_lib

    # The kernel may hand every socket to the first process while the second starts: the
    # per-user cap (32 a process) is not what this test is about.
    server = cluster.start("uvicorn", WS_PROCESSES="2", WS_MAX_SOCKETS_PER_USER="0")
    r = redis_lib.Redis.from_url(cluster.env["REDIS_URL"], decode_responses=True)
    procs_key = f"{cluster.env['WS_REDIS_PREFIX']}:ws:procs"
    # The kernel spreads connections over the processes listening; the second may still be
    # starting: connect until both have taken sockets (a process joins presence on start).
    clients = []
    deadline = time.monotonic() + 20
    while len(clients) < 16 or r.zcard(procs_key) < 2:
        assert time.monotonic() < deadline, "the second server process never took a socket"
        clients.append(await LiveClient.open(server.url, token(cluster, "boss", ["players.view"])))
    listed = set(cluster.manage("ws_clients", "--ids").stdout.split())
    assert len(listed) == len(clients)
    cluster.manage("ws_broadcast", "everyone", '{"n": 1}')
    for client in clients:
        assert (await client.event("everyone"))["data"] == {"n": 1}

    # Kill one server process: the supervisor starts another; the port keeps serving.
    children = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 2
    subprocess.run(["kill", "-9", children[0]], check=True)
    deadline = time.monotonic() + 20
    while True:
        now = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True).stdout.split()
        if len(now) == 2 and children[0] not in now:
            break
        assert time.monotonic() < deadline, "the supervisor did not replace the dead process"
    fresh = [await LiveClient.open(server.url, token(cluster, "boss", ["players.view"])) for _ in range(8)]
    cluster.manage("ws_broadcast", "again", "{}")
    for client in fresh:
        await client.event("again")
    for client in clients + fresh:
        await client.ws.close()


def test_several_processes_need_redis(platform):
    result = platform.manage("serve", "--processes", "2", check=False)
    assert result.returncode != 0
    assert "several server processes need REDIS_URL" in result.stderr
