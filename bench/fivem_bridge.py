#!/usr/bin/env python3
"""Benchmark: the FiveM resource (fivem/, under Node with the stand-in natives) against a
real platform process. Prints figures; asserts nothing.

    .venv/bin/python bench/fivem_bridge.py [--joins 200] [--kicks 100] [--burst 500] [--snapshot 100,1000,2000]

- snapshot: the resource starts with N players already on the server; seconds from the
  resource loaded to the platform having accepted the whole snapshot (connect, auth,
  serverSnapshot and the snapshotPlayers frames).
- join: a player connects (playerConnecting with a deferral, checkBan answered by the
  platform, done) and the admin panel sees the playerJoined broadcast; milliseconds.
- burst: the framework reports N character changes at once; seconds until the admin
  panel has seen every characterUpdated broadcast (the resource keeps 24 in flight).
- kick: the admin's kickPlayer until its success reply (platform -> resource ->
  DropPlayer -> commandResult -> platform); milliseconds.
- reconnect: the platform is stopped for a few seconds and restarted on the same port;
  seconds from the new process listening to the resource's snapshot being accepted, with
  the default backoff (1 s doubling to 15 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fivem.resource import ACCOUNTS, Admin, Resource  # noqa: E402
from tests.live import Platform  # noqa: E402


def ms(values: list[float]) -> str:
    values = sorted(v * 1000 for v in values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"p50 {statistics.median(values):6.1f} ms  p95 {p95:6.1f} ms  max {values[-1]:6.1f} ms  (n={len(values)})"


def identifiers(n: int) -> list[str]:
    return [f"license:{n:040x}", f"discord:{10**17 + n}"]


async def bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Path(tmp), {"LOG_LEVEL": "ERROR"})
        platform.migrate()
        platform.shell(ACCOUNTS)
        token = platform.manage("ws_token", "gameserver", "--permissions", "gameserver").stdout.strip()
        admin_token = platform.manage("ws_token", "admin", "--permissions", "admin").stdout.strip()
        server = platform.start()
        convars = {"ws_platform_url": server.url, "ws_platform_token": token}
        try:
            for n in args.snapshot:
                resource = await Resource(convars, seed_players=n).start()
                loaded = resource.records[-1]["_at"]
                line = await resource.wait_console(f"snapshot sent: {n} player(s)", timeout=120)
                print(f"snapshot  {n:5d} players online at start: {line['_at'] - loaded:6.2f} s to accepted")
                await resource.stop()

            resource = await Resource(convars).start()
            await resource.wait_online()
            admin = await Admin.open(server.url, admin_token)
            joins = []
            for n in range(1, args.joins + 1):
                start = time.monotonic()
                result = await resource.connect_player(n, f"P{n}", identifiers(n))
                assert result["accepted"], result
                await admin.expect("playerJoined", where=lambda f, n=n: f["data"]["source"] == n)
                joins.append(time.monotonic() - start)
            print(f"join      connect -> ban check -> admitted -> admin sees playerJoined: {ms(joins)}")

            await resource.send({"cmd": "emit", "event": "websocket:characterSelected",
                                 "args": [1, {"id": 1, "name": "Bench Mark", "job": "Mechanic", "cash": 0, "bank": 0}]})
            await admin.expect("characterSelected")
            start = time.monotonic()
            for cash in range(1, args.burst + 1):
                await resource.send({"cmd": "emit", "event": "websocket:characterUpdated", "args": [1, {"cash": cash}]})
            for _ in range(args.burst):
                await admin.expect("characterUpdated", timeout=60)
            took = time.monotonic() - start
            print(f"burst     {args.burst} characterUpdated at once, paced 24 in flight: all broadcast in "
                  f"{took:5.2f} s ({args.burst / took:5.0f}/s)")

            kicks = []
            for n in range(1, min(args.kicks, args.joins) + 1):
                start = time.monotonic()
                reply = await admin.request("kickPlayer", {"source": n, "reason": "bench"})
                assert reply["event"] == "success", reply
                kicks.append(time.monotonic() - start)
            print(f"kick      admin kickPlayer -> DropPlayer in the game -> success: {ms(kicks)}")
            await admin.close()

            port = server.port
            server.stop()
            await resource.wait_console("disconnected from the platform")
            await asyncio.sleep(args.outage)  # the outage itself: what is measured starts after it
            mark = len(resource.records)
            server = platform.start(port=port)
            listening = time.monotonic()
            await resource.wait_online(after=mark, timeout=120)
            back = resource.records[-1]["_at"]
            print(f"reconnect after a {args.outage:.0f} s outage, default backoff: "
                  f"{back - listening:5.2f} s from the platform listening to the snapshot accepted")
            await resource.stop()
        finally:
            platform.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--joins", type=int, default=200)
    parser.add_argument("--kicks", type=int, default=100)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--outage", type=float, default=5)
    parser.add_argument("--snapshot", type=lambda s: [int(x) for x in s.split(",")], default=[100, 1000, 2000])
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
