#!/usr/bin/env python3
"""Benchmark: the platform against the reference Node server, on the same machine, in one run.

    .venv/bin/python bench/run.py                 # platform and reference, every figure
    .venv/bin/python bench/run.py --no-reference  # the platform only
    .venv/bin/python bench/run.py --server daphne --held 0
    .venv/bin/python bench/run.py --cleanup both  # each fan-out round's player leaves again

It starts one platform process on production settings (DEBUG off, a fresh SQLite
database), a simulated game server with 128 players (the bridge), and drives both with the
load generator of ``shared/bench`` (Node; ``--loadgen-dir``). Then, with the reference
(``ref_server.js``), the same figures again, and prints the ratios. Figures only: nothing
here asserts, and the machine is shared, so compare ratios from one run.

Both servers get the same frames: the fan-out trigger is ``playerJoined`` from the game
server's bridge (``TRIGGER_TOKEN``), and ``--cleanup`` decides whose rounds also send
``playerLeft`` afterwards (``TRIGGER_CLEANUP``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early (code {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listened on {port} within {timeout}s")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="fivem-bench-"))
        self.secret = secrets.token_urlsafe(48)
        self.env = {
            **os.environ,
            "WS_JWT_SECRET": self.secret,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "DATABASE_URL": f"sqlite:///{self.tmp / 'db.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            # The load generator opens every socket as one user and has each of its 50 rpc
            # sockets send hundreds of reads a second: exactly what the per-user socket cap
            # and the read rate limit exist to stop. Everything else stays on its default.
            "WS_MAX_SOCKETS_PER_USER": "0",
            # mint.js signs spec-format tokens that are in no registry, like the reference's.
            "WS_REQUIRE_REGISTERED_TOKENS": "false",
            "WS_RATE_READ": "1000000/1s",
            # ... and every one of its thousands of sockets comes from 127.0.0.1.
            "WS_MAX_CONNECTIONS_PER_ADDRESS": "0",
        }
        self.env.pop("REDIS_URL", None)
        self.procs: list[subprocess.Popen] = []

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [PY, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        ).stdout.strip()

    def spawn(self, argv: list[str], cwd: Path, env: dict, log: str) -> subprocess.Popen:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=open(self.tmp / log, "w"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def loadgen(self, url: str, *args: str, watch: int | None = None, **env: str) -> dict:
        """One loadgen run's figures; with ``watch``, that process's peak RSS during it."""
        proc = subprocess.Popen(
            ["node", "loadgen.js", url, *args], cwd=self.args.loadgen_dir,
            env={**self.env, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        peak = 0
        while proc.poll() is None:
            if watch:
                peak = max(peak, rss_kb(watch))
            time.sleep(0.2)
        stdout, stderr = proc.communicate()
        if proc.returncode:
            return {"error": (stderr or stdout).strip()[-300:]}
        figures = json.loads(stdout.strip().splitlines()[-1])
        if watch:
            figures["server_rss_peak_kb"] = peak
        return figures

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def close(self) -> None:
        for proc in self.procs:
            self.stop(proc)

    # -- the platform -------------------------------------------------------------------

    def platform(self) -> dict:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("ws_grant", "bench", "admin", "--create")
        self.manage("ws_grant", "bridge", "gameserver", "--create")
        token = self.manage("ws_token", "bench", "--permissions", "admin", "--expires", "2h")
        bridge = self.manage("ws_token", "bridge", "--permissions", "gameserver", "--expires", "2h")
        port = free_port()
        server = self.spawn(
            [PY, "manage.py", "serve", "--port", str(port), "--server", self.args.server],
            ROOT, self.env, "platform.log",
        )
        wait_port(port, server)
        url = f"ws://127.0.0.1:{port}"
        results: dict = {"rss_idle_kb": rss_kb(server.pid)}
        env = {"TOKEN": token, "TRIGGER_TOKEN": bridge}
        results["connect"] = self.loadgen(url, "connect", str(self.args.clients), **env)
        results["rpc_getStats"] = self.loadgen(url, "rpc", "50", str(self.args.seconds), RPC_EVENT="getStats", **env)
        simulator = self.spawn(
            [PY, "manage.py", "simulate_server", "--url", url, "--token", bridge,
             "--players", "128", "--online", "128", "--pace", "0", "--seed", "1"],
            ROOT, self.env, "simulator.log",
        )
        self.wait_players(url, token, 128)
        results["rpc_getPlayers128"] = self.loadgen(url, "rpc", "50", str(self.args.seconds), RPC_EVENT="getPlayers", **env)
        self.stop(simulator)
        self.fanouts(results, url, server.pid, cleanup=self.args.cleanup in ("both", "platform"), **env)
        self.stop(server)
        return results

    def fanouts(self, results: dict, url: str, pid: int, *, cleanup: bool, **env: str) -> None:
        """The fan-out figures: ``--clients``, then ``--held`` clients (with the server's
        memory). With ``cleanup``, each round's player leaves again (``TRIGGER_CLEANUP``):
        the load generator sends that ``playerLeft`` just before the next round's trigger,
        so every round after the first times two broadcasts, not one."""
        if cleanup:
            env["TRIGGER_CLEANUP"] = "playerLeft"
        results["fanout"] = self.loadgen(url, "fanout", str(self.args.clients), str(self.args.rounds), **env)
        if self.args.held:
            before = rss_kb(pid)
            held = self.loadgen(url, "fanout", str(self.args.held), str(self.args.rounds), watch=pid, **env)
            if "server_rss_peak_kb" in held:
                held["kb_per_connection"] = round((held["server_rss_peak_kb"] - before) / self.args.held, 1)
            results["fanout_held"] = held

    def wait_players(self, url: str, token: str, n: int, timeout: float = 60) -> None:
        """Poll getPlayers until the simulator's players are all online."""
        import asyncio

        import websockets

        async def poll() -> None:
            async with websockets.connect(url) as ws:
                await ws.recv()
                await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
                await ws.recv()
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    await ws.send(json.dumps({"event": "getPlayers", "requestId": "w"}))
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame.get("requestId") == "w":
                            break
                    if len(frame.get("data", {}).get("players", [])) >= n:
                        return
                    await asyncio.sleep(0.2)
                raise SystemExit(f"simulator did not bring {n} players online")

        asyncio.run(poll())

    # -- the reference ------------------------------------------------------------------

    def reference(self) -> dict:
        port = free_port()
        env = {**self.env, "WS_PORT": str(port)}
        ref = self.spawn(["node", "ref_server.js"], Path(self.args.loadgen_dir), env, "reference.log")
        wait_port(port, ref)
        url = f"ws://127.0.0.1:{port}"
        token = subprocess.run(
            ["node", "mint.js", "bench", "admin"], cwd=self.args.loadgen_dir, env=env,
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        results: dict = {"rss_idle_kb": rss_kb(ref.pid)}
        results["connect"] = self.loadgen(url, "connect", str(self.args.clients), TOKEN=token)
        results["rpc_getStats"] = self.loadgen(url, "rpc", "50", str(self.args.seconds), RPC_EVENT="getStats", TOKEN=token)
        results["rpc_getPlayers128"] = self.loadgen(url, "rpc", "50", str(self.args.seconds), RPC_EVENT="getPlayers", TOKEN=token)
        self.fanouts(results, url, ref.pid, cleanup=self.args.cleanup == "both", TOKEN=token)
        self.stop(ref)
        return results


def summary(ours: dict, ref: dict | None, held: int) -> list[str]:
    rows = [
        ("connect+auth /s", "connect", "connect_auth_per_s", "higher"),
        ("rpc getStats /s", "rpc_getStats", "rpc_per_s", "higher"),
        ("rpc getPlayers(128) /s", "rpc_getPlayers128", "rpc_per_s", "higher"),
        ("fan-out p50 ms", "fanout", "fanout_p50_ms", "lower"),
        ("fan-out rounds lost", "fanout", "rounds_lost", "lower"),
    ]
    if held:
        rows += [
            (f"fan-out {held} p50 ms", "fanout_held", "fanout_p50_ms", "lower"),
            (f"fan-out {held} rounds lost", "fanout_held", "rounds_lost", "lower"),
            ("KB per held connection", "fanout_held", "kb_per_connection", "lower"),
        ]
    lines = [f"{'figure':28} {'platform':>12} {'reference':>12} {'ratio':>8}"]
    for label, section, key, _ in rows:
        mine = ours.get(section, {}).get(key)
        theirs = (ref or {}).get(section, {}).get(key)
        ratio = f"{mine / theirs:.2f}" if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)) and theirs else "-"
        lines.append(f"{label:28} {mine!s:>12} {theirs!s:>12} {ratio:>8}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loadgen-dir", default=str(ROOT.parent / "shared" / "bench"))
    parser.add_argument("--server", default=os.environ.get("WS_SERVER", "uvicorn"), choices=["uvicorn", "daphne"])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--held", type=int, default=10000, help="clients for the held fan-out (0: skip)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument(
        "--cleanup", choices=["none", "both", "platform"], default="none",
        help="whose fan-out rounds end with the player leaving again (TRIGGER_CLEANUP=playerLeft): "
        "none (the issue's `fanout N 20`, the default), both, or the platform only "
        "(shared/bench/README's recipe, which times two broadcasts a round against the reference's one)",
    )
    args = parser.parse_args()
    if not (Path(args.loadgen_dir) / "loadgen.js").exists():
        raise SystemExit(f"no loadgen.js in {args.loadgen_dir} (use --loadgen-dir)")

    bench = Bench(args)
    try:
        ours = bench.platform()
        ref = None if args.no_reference else bench.reference()
    finally:
        bench.close()
    print(json.dumps(
        {"platform": ours, "reference": ref, "server": args.server, "cleanup": args.cleanup, "cores": os.cpu_count()},
        indent=1,
    ))
    print("\n".join(summary(ours, ref, args.held)))


if __name__ == "__main__":
    main()
