"""What one client that stops reading does to a server process and to everyone else.

Starts a real server (daphne or uvicorn; through `manage.py serve`, or with --stock as the
bare ASGI server without the platform's flow extension), connects N reading clients, the
game server's bridge and one client that never reads (4 KiB receive buffer), sends
broadcasts through the bridge and prints: how long the readers took to get them all, the
broadcast latency they saw, the server's memory before and after, and whether the stalled
client was cut off.

    python bench/slow_reader.py --server daphne
    python bench/slow_reader.py --server uvicorn --stock
    python bench/slow_reader.py --server uvicorn --broadcasts 2000 --size 32000 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WS_JWT_SECRET", secrets.token_urlsafe(48))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from tests.helpers import spec_token  # noqa: E402
from tests.live import Platform, free_port, reachable  # noqa: E402
from tests.security.rawws import RawSocket  # noqa: E402
from tests.security.wsclient import authed  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_stock(platform: Platform, server: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if server == "daphne":
        cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "project.asgi:application", "--port", str(port),
               "--lifespan", "off", "--log-level", "warning", "--ws-per-message-deflate", "false"]
    log = open(platform.workdir / "stock.log", "ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=platform.env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not reachable("127.0.0.1", port):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("the stock server did not start")
        time.sleep(0.05)
    return proc, port


async def main(args: argparse.Namespace) -> None:
    platform = Platform(Path(tempfile.mkdtemp()), {"WS_MAX_SOCKETS_PER_USER": "0"})
    platform.migrate()
    platform.shell("from tests.helpers import make_user; make_user('viewer', ['stats.view']); "
                   "make_user('bridge', ['gameserver'])")
    if args.stock:
        proc, port = start_stock(platform, args.server)
        log_path = platform.workdir / "stock.log"
    else:
        server = platform.start(args.server)
        proc, port, log_path = server.proc, server.port, server.log_path
    url = f"ws://127.0.0.1:{port}"
    try:
        bridge = await authed(url, spec_token("bridge", ["gameserver"]))
        readers = [await authed(url, spec_token("viewer", ["stats.view"])) for _ in range(args.readers)]
        stalled = RawSocket(port, rcvbuf=4096)
        stalled_id = stalled.recv_json()["data"]["clientId"]
        stalled.send_json({"event": "auth", "data": {"token": spec_token("viewer", ["stats.view"])}})
        stalled.recv_json()
        rss_before = rss_kib(proc.pid)

        latencies: list[float] = []
        received = [0] * len(readers)

        async def read(i: int, ws) -> None:  # noqa: ANN001
            async for text in ws:
                frame = json.loads(text)
                if frame["event"] == "tick":
                    received[i] += 1
                    latencies.append(time.perf_counter() - frame["data"]["t"])

        async def drain_bridge() -> None:
            async for _ in bridge.ws:
                pass

        tasks = [asyncio.create_task(read(i, r.ws)) for i, r in enumerate(readers)]
        tasks.append(asyncio.create_task(drain_bridge()))
        pad = secrets.token_urlsafe(args.size * 3 // 4)
        started = time.perf_counter()
        for n in range(args.broadcasts):
            if args.rate:  # pace the sender: a sustained load rather than one burst
                await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
            payload = {"t": time.perf_counter(), "pad": pad}
            await bridge.send({"event": "broadcast", "data": {"event": "tick", "data": payload}})
        total = args.broadcasts * len(readers)
        deadline = time.perf_counter() + args.wait
        while sum(received) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        rss_after = rss_kib(proc.pid)
        check = await authed(url, spec_token("bridge", ["gameserver"]))
        await check.send({"event": "getConnectedClients", "requestId": "c"})
        try:
            clients = (await check.reply_to("c", timeout=5))["data"]["clients"]
            cut = "yes" if stalled_id not in clients else "no"
        except (asyncio.TimeoutError, TimeoutError):
            cut = "unknown (the server did not answer within 5 s)"
        latencies.sort()
        p = lambda q: latencies[int(q * (len(latencies) - 1))] * 1000 if latencies else float("nan")  # noqa: E731
        mode = "stock" if args.stock else "manage.py serve"
        pace = f" at {args.rate:g}/s" if args.rate else " in one burst"
        print(f"{args.server} ({mode}): {args.readers} readers + 1 stalled, "
              f"{args.broadcasts} broadcasts of {args.size} B{pace}")
        print(f"  delivered {sum(received)}/{total} in {elapsed:.2f} s; "
              f"latency p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {p(1.0):.1f} ms")
        cut_off = log_path.read_text(errors="replace").count("stopped reading")
        print(f"  server RSS {rss_before / 1024:.0f} MiB -> {rss_after / 1024:.0f} MiB; "
              f"stalled client cut off: {cut}; sockets cut off in all: {cut_off}")
        for task in tasks:
            task.cancel()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # stock uvicorn waits on the stalled client
            proc.kill()
            proc.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--stock", action="store_true", help="bare server, no flow extension")
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--broadcasts", type=int, default=400)
    parser.add_argument("--size", type=int, default=16_000, help="bytes per broadcast")
    parser.add_argument("--rate", type=float, default=0, help="broadcasts a second (0: a burst)")
    parser.add_argument("--wait", type=float, default=30, help="seconds to wait for delivery")
    asyncio.run(main(parser.parse_args()))
