#!/usr/bin/env python3
"""Benchmark: what positions and history cost on fan-out, history on against off, one run.

    .venv/bin/python bench/history.py                      # memory, and Redis if reachable
    .venv/bin/python bench/history.py --clients 1000 --rounds 20 --repeats 5
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/history.py --backends redis

For each history backend (memory: one process, no REDIS_URL; redis: REDIS_URL, the
broadcasts travel through the history stream) it starts two platform processes on
production settings, one with ``WS_HISTORY_SIZE=0`` (off: no positions, broadcasts over
the channel layer as before) and one with the default history (on), and runs the load
generator's fan-out (``shared/bench/loadgen.js fanout N ROUNDS``: the bridge's
``playerJoined`` broadcast to N clients) against them in turn, ``--repeats`` times each,
alternating, so both see the same machine. It prints each run's p50 and, per backend, the
median of the p50s on and off and their ratio (the issue's bound: within 5%). Figures
only: nothing here asserts.

First, the same comparison in-process, where the shared machine's noise is smallest: the
hub's handling of one broadcast for ``--clients`` sockets (filter, number and store it,
frame it once, hand it to each socket's no-op writer), best of 15, history off and on
(memory). The Redis backend's extra cost is in the round trip (a script instead of a
PUBLISH, XREAD instead of SUBSCRIBE), which only the end-to-end figures show.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import PY, ROOT, Bench, free_port, wait_port  # noqa: E402


def redis_reachable(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:  # noqa: BLE001
        return False


def start(bench: Bench, label: str, env: dict) -> tuple[str, object]:
    port = free_port()
    server = bench.spawn(
        [PY, "manage.py", "serve", "--port", str(port), "--server", bench.args.server],
        ROOT, {**bench.env, **env}, f"platform-{label}.log",
    )
    wait_port(port, server)
    return f"ws://127.0.0.1:{port}", server


async def fanout_settled(bench: Bench, url: str, tokens: dict) -> dict:
    """One fan-out run; then, until the platform has announced that the run's trigger (the
    bridge's account) left, so that the next run's clients do not get that
    gameServerStatus where the load generator expects their ``authenticated``."""
    import websockets

    async with websockets.connect(url) as watcher:
        await watcher.recv()
        await watcher.send(json.dumps({"event": "auth", "data": {"token": tokens["TOKEN"]}}))
        await watcher.recv()
        figures = await asyncio.to_thread(
            bench.loadgen, url, "fanout", str(bench.args.clients), str(bench.args.rounds), **tokens
        )
        try:
            async with asyncio.timeout(15):
                while True:
                    frame = json.loads(await watcher.recv())
                    if frame["event"] == "gameServerStatus" and not frame["data"].get("online"):
                        break
        except TimeoutError:
            pass
    return figures


def inprocess(clients: int, rounds: int = 300, repeats: int = 15) -> dict:
    """ns per broadcast in the hub, for ``clients`` sockets: history off and on (memory)."""
    import secrets

    os.environ.setdefault("WS_JWT_SECRET", secrets.token_urlsafe(48))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from realtime import history
    from realtime.hub import Hub, _broadcast
    from realtime.protocol import encode

    class Socket:  # what _broadcast reads of a consumer, with a server's frame writer
        authenticated, held = True, None
        permissions = frozenset({"players.view"})

        def push_frame(self, frame: bytes) -> bool:
            return True

    async def per_broadcast(with_history: bool) -> float:
        hub = Hub()
        hub.history = history.MemoryHistory(1000, 600) if with_history else None
        hub.clients = {str(i): Socket() for i in range(clients)}
        message = {"type": "hub.broadcast", "needs": ["players.view"],
                   "text": encode("playerJoined", {"source": 1, "name": "bench", "license": "license:bench"})}
        started = time.perf_counter()
        for _ in range(rounds):
            await _broadcast(hub, dict(message))
        return (time.perf_counter() - started) / rounds * 1e9

    async def measure() -> dict:
        offs, ons = [], []
        for _ in range(repeats):  # alternating, so both see the same machine
            offs.append(await per_broadcast(False))
            ons.append(await per_broadcast(True))
        off, on = min(offs), min(ons)
        return {"clients": clients, "off_us": round(off / 1000, 1), "on_us": round(on / 1000, 1),
                "ratio_on_off": round(on / off, 3)}

    return asyncio.run(measure())


def backend(bench: Bench, name: str, tokens: dict) -> dict:
    """The fan-out p50s of history off and on for one backend."""
    def redis() -> dict:  # a prefix each: the two platforms must not hear each other
        return {"REDIS_URL": bench.args.redis_url, "WS_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}"}

    servers = {
        "off": start(bench, f"{name}-off", {**(redis() if name == "redis" else {}), "WS_HISTORY_SIZE": "0"}),
        "on": start(bench, f"{name}-on", {**(redis() if name == "redis" else {})}),
    }
    runs: dict[str, list] = {"off": [], "on": []}
    try:
        for repeat in range(bench.args.repeats):
            # Alternate which goes first, so neither always runs on a warmer machine.
            for history in (("off", "on") if repeat % 2 == 0 else ("on", "off")):
                url, _ = servers[history]
                figures = asyncio.run(fanout_settled(bench, url, tokens))
                runs[history].append(figures.get("fanout_p50_ms"))
                print(f"{name:6} history {history:3} run {repeat + 1}: {json.dumps(figures)}", flush=True)
    finally:
        for _, server in servers.values():
            bench.stop(server)
    result: dict = {"runs": runs}
    for history in ("off", "on"):
        values = [v for v in runs[history] if isinstance(v, (int, float))]
        result[f"p50_{history}_ms"] = round(statistics.median(values), 2) if values else None
    if result["p50_off_ms"] and result["p50_on_ms"]:
        result["ratio_on_off"] = round(result["p50_on_ms"] / result["p50_off_ms"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loadgen-dir", default=str(ROOT.parent / "shared" / "bench"))
    parser.add_argument("--server", default=os.environ.get("WS_SERVER", "uvicorn"), choices=["uvicorn", "daphne"])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5, help="fan-out runs per server, alternating")
    parser.add_argument("--backends", default="memory,redis", help="comma-separated: memory, redis")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    args.held = 0
    if not (Path(args.loadgen_dir) / "loadgen.js").exists():
        raise SystemExit(f"no loadgen.js in {args.loadgen_dir} (use --loadgen-dir)")

    hub = inprocess(args.clients)
    print(f"in-process, one broadcast to {hub['clients']} sockets: history off {hub['off_us']} us, "
          f"on {hub['on_us']} us (on/off {hub['ratio_on_off']})", flush=True)
    bench = Bench(args)
    results: dict = {"inprocess": hub}
    try:
        bench.manage("migrate", "--noinput", "-v", "0")
        bench.manage("ws_grant", "bench", "admin", "--create")
        bench.manage("ws_grant", "bridge", "gameserver", "--create")
        tokens = {
            "TOKEN": bench.manage("ws_token", "bench", "--permissions", "admin", "--expires", "2h"),
            "TRIGGER_TOKEN": bench.manage("ws_token", "bridge", "--permissions", "gameserver", "--expires", "2h"),
        }
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            if name == "redis" and not redis_reachable(args.redis_url):
                print(f"redis: skipped, nothing answers at {args.redis_url}")
                continue
            results[name] = backend(bench, name, tokens)
    finally:
        bench.close()
    print(json.dumps({"results": results, "clients": args.clients, "rounds": args.rounds,
                      "repeats": args.repeats, "server": args.server, "cores": os.cpu_count()}, indent=1))
    print(f"{'backend':8} {'p50 off ms':>11} {'p50 on ms':>10} {'on/off':>7}")
    for name, r in results.items():
        if name == "inprocess":
            continue
        print(f"{name:8} {r['p50_off_ms']!s:>11} {r['p50_on_ms']!s:>10} {r.get('ratio_on_off', '-')!s:>7}")


if __name__ == "__main__":
    main()
