#!/usr/bin/env python3
"""Benchmark: what the bridge's live client list costs on a connection storm. Prints
figures; asserts nothing.

    .venv/bin/python bench/bridge_sync.py [--clients 500] [--concurrency 50]

One platform process (SQLite). N viewer sockets connect and
authenticate, `--concurrency` at a time; then they all close. Run twice in one go: with no
bridge, and with a bridge subscribed (bridgeSync), which is pushed the whole list on every
change (coalesced, WS_CLIENT_LIST_PUSH_INTERVAL). Prints the storm's duration, auth p50 /
p95, and how many pushes and bytes the bridge received, and how long after the last
auth its copy was complete.
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

USERS = """
from tests.helpers import make_user
make_user("viewer", ["players.view"])
make_user("bridge", ["gameserver"])
"""
MINT = """
from realtime.api import generate_token
print(generate_token("viewer", ["players.view"], "1h", label="bench"))
print(generate_token("bridge", ["gameserver"], "1h", label="bench"))
"""


async def authed(url: str, token: str) -> tuple[object, str, float]:
    ws = await websockets.connect(url, max_size=None)
    hello = json.loads(await ws.recv())
    start = time.perf_counter()
    await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
    while True:
        frame = json.loads(await ws.recv())
        if frame["event"] == "authenticated":
            return ws, hello["data"]["clientId"], time.perf_counter() - start


async def storm(url: str, token: str, count: int, concurrency: int) -> tuple[list, list[float], float]:
    gate = asyncio.Semaphore(concurrency)

    async def one():
        async with gate:
            return await authed(url, token)

    start = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(count)))
    return [r[:2] for r in results], [r[2] for r in results], time.perf_counter() - start


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Path(tmp), {"LOG_LEVEL": "ERROR",
                                        "WS_MAX_SOCKETS_PER_USER": str(args.clients + 10),
                                        "WS_MAX_SOCKETS_PER_ADDRESS": str(args.clients + 10),
                                        "WS_MAX_CONNECTIONS_PER_ADDRESS": "0"})
        platform.migrate()
        platform.shell(USERS)
        viewer_token, bridge_token = platform.shell(MINT).strip().splitlines()[-2:]
        server = platform.start()
        try:
            for with_bridge in (False, True, False, True):  # alternated: the machine is shared
                bridge, pushes, size, complete = None, 0, 0, asyncio.Event()
                expected: set[str] = set()
                last: set[str] = set()
                if with_bridge:
                    bridge, bridge_id, _ = await authed(server.url, bridge_token)
                    await bridge.send(json.dumps({"event": "bridgeSync", "requestId": "s"}))

                    async def read():
                        nonlocal pushes, size, last
                        async for raw in bridge:
                            frame = json.loads(raw)
                            if frame["event"] == "connectedClients":
                                pushes += 1
                                size += len(raw)
                                last = set(frame["data"]["clients"])
                                if expected and last >= expected:
                                    complete.set()

                    reader = asyncio.ensure_future(read())
                sockets, auths, took = await storm(server.url, viewer_token, args.clients, args.concurrency)
                done_at = time.perf_counter()
                expected.update(cid for _, cid in sockets)
                if last >= expected:
                    complete.set()
                lag = "n/a"
                if with_bridge:
                    await asyncio.wait_for(complete.wait(), 30)
                    lag = f"{(time.perf_counter() - done_at) * 1000:.0f} ms"
                auths.sort()
                p95 = auths[int(len(auths) * 0.95) - 1]
                print(f"{'with' if with_bridge else 'without':7} a subscribed bridge: {args.clients} auths in "
                      f"{took:5.2f} s; auth p50 {statistics.median(auths) * 1000:6.1f} ms p95 {p95 * 1000:6.1f} ms"
                      + (f"; {pushes} pushes, {size / 1024:.0f} KiB; copy complete {lag} after the last auth"
                         if with_bridge else ""))
                await asyncio.gather(*(ws.close() for ws, _ in sockets))
                if bridge is not None:
                    await bridge.close()
                    reader.cancel()
        finally:
            platform.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
