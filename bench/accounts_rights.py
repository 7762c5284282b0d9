"""How fast rights changes reach open sockets, and what auth costs. Prints figures.

    python bench/accounts_rights.py [--sockets 200] [--redis redis://127.0.0.1:6379/0]

Starts two `serve` processes sharing Redis (its database is flushed) and a temporary
sqlite database, opens SOCKETS sockets per server for one user (plus as many for a
bystander), then from a third process: changes the user's grants (time until every socket
has `permissionsChanged`), revokes the token (time until every socket is closed with
4003). Latencies are measured from just before the change's commit to the client's
receipt, on one machine's clock. Then it times `authenticate()` with the cache cold and
warm, counting queries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import Platform  # noqa: E402

SETUP = """
from tests.helpers import make_user
from realtime.api import generate_token
make_user("bench", ["stats.view", "players.view"])
make_user("bystander", ["stats.view"])
print("TOKEN", generate_token("bench", ["stats.view", "players.view"], "1h"))
print("TOKEN", generate_token("bystander", ["stats.view"], "1h"))
"""

# A first announcement from a fresh process pays for connecting to Redis (about 0.15 s
# here); a harmless one first measures the steady state, as in a server process's admin.
WARM_UP = """
from django.contrib.auth.models import Permission, User
User.objects.get(username="bystander").user_permissions.remove(
    Permission.objects.get(content_type__app_label="accounts", codename="jobs.view"))
"""

CHANGE = WARM_UP + """
import time
perm = Permission.objects.get(content_type__app_label="accounts", codename="players.view")
user = User.objects.get(username="bench")
print("T0", time.time())
user.user_permissions.remove(perm)
"""

REVOKE = WARM_UP + """
import time
from accounts.models import IssuedToken
from accounts.tokens import revoke_tokens
tokens = IssuedToken.objects.filter(user__username="bench")
print("T0", time.time())
revoke_tokens(tokens)
"""

AUTH_COST = """
import time
from django.db import connection
from django.test.utils import CaptureQueriesContext
from accounts.services import authenticate, forget
from accounts.models import IssuedToken
payload = {"sub": "bystander", "permissions": ["stats.view"], "jti": IssuedToken.objects.get(user__username="bystander").jti}
N = 2000
for label, cold in (("cold", True), ("warm", False)):
    authenticate(payload)
    queries = 0
    start = time.perf_counter()
    for _ in range(N):
        if cold:  # as after a change: this user's and token's entries forgotten
            forget(usernames=["bystander"], jtis=[payload["jti"]])
        with CaptureQueriesContext(connection) as ctx:
            assert authenticate(payload) is not None
        queries += len(ctx.captured_queries)
    took = time.perf_counter() - start
    print(f"authenticate() {label} (Redis cache): {took / N * 1e6:.0f} us/call, {queries / N:.2f} queries/call (n={N})")
"""


def stamp(output: str) -> float:
    return float(next(line.split()[1] for line in output.splitlines() if line.startswith("T0 ")))


async def open_socket(url: str, token: str):
    ws = await websockets.connect(url, max_queue=None)
    json.loads(await ws.recv())
    await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
    reply = json.loads(await ws.recv())
    assert reply["event"] == "authenticated", reply
    return ws


async def arrival(ws, event: str | None) -> float:
    """When ``event`` arrives (None: when the server closes the socket)."""
    while True:
        try:
            frame = json.loads(await ws.recv())
        except websockets.ConnectionClosed as closed:
            assert event is None and closed.rcvd and closed.rcvd.code == 4003, closed
            return time.time()
        if frame["event"] == event:
            return time.time()


def report(name: str, t0: float, arrivals: list[float]) -> None:
    ms = sorted((t - t0) * 1000 for t in arrivals)
    print(
        f"{name}: {len(ms)} sockets on 2 processes; after commit: median {statistics.median(ms):.1f} ms, "
        f"p95 {ms[int(len(ms) * 0.95) - 1]:.1f} ms, max {ms[-1]:.1f} ms"
    )


async def main(sockets: int, redis_url: str) -> None:
    import uuid

    prefix = f"bench-{uuid.uuid4().hex[:8]}"  # a namespace of its own in a shared Redis
    platform = Platform(
        Path(tempfile.mkdtemp(prefix="bench-accounts-")), {"REDIS_URL": redis_url, "WS_REDIS_PREFIX": prefix}
    )
    platform.migrate()
    tokens = [line.split()[1] for line in platform.shell(SETUP).splitlines() if line.startswith("TOKEN ")]
    servers = [platform.start(), platform.start()]
    try:
        mine = [await open_socket(s.url, tokens[0]) for s in servers for _ in range(sockets)]
        others = [await open_socket(s.url, tokens[1]) for s in servers for _ in range(sockets)]

        waits = [asyncio.ensure_future(arrival(ws, "permissionsChanged")) for ws in mine]
        t0 = stamp(await asyncio.to_thread(platform.shell, CHANGE))
        report("grant change -> permissionsChanged", t0, await asyncio.gather(*waits))

        waits = [asyncio.ensure_future(arrival(ws, None)) for ws in mine]
        t0 = stamp(await asyncio.to_thread(platform.shell, REVOKE))
        report("revocation -> close 4003", t0, await asyncio.gather(*waits))

        assert all(ws.close_code is None for ws in others), "a bystander's socket was touched"
        for ws in others:
            await ws.close()
        print((await asyncio.to_thread(platform.shell, AUTH_COST)).strip())
    finally:
        platform.stop_all()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=200, help="sockets per server process")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="flushed!")
    args = parser.parse_args()
    asyncio.run(main(args.sockets, args.redis))
