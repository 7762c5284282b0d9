"""HTTP API throughput against the socket's, on one server process. Prints figures.

    python bench/http_api.py [--players 50] [--seconds 5] [--clients 8] [--server uvicorn]

Starts `serve` on a temporary sqlite database (rate limits off) and `simulate_server` with
PLAYERS players online, then for each of

- getPlayers: ``GET /api/v1/players`` vs the socket's ``getPlayers``;
- a command: ``POST /api/v1/announcements`` vs the socket's ``announce`` (a round trip to
  the game server's bridge, audited);

runs CLIENTS concurrent clients for SECONDS each and prints requests per second and the
median latency. The HTTP clients are raw keep-alive HTTP/1.1 connections (asyncio streams,
no client library) and the socket clients one websocket each with one request in flight,
so both sides cost the client alike; client and server share this machine's CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402

import jwt  # noqa: E402

from tests.live import Platform, start_simulator  # noqa: E402


class HttpClient:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int, bearer: str) -> None:
        self.port, self.bearer = port, bearer

    async def open(self) -> HttpClient:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def call(self, method: str, path: str, body: dict | None = None) -> int:
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {self.bearer}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        self.writer.close()


async def run_for(seconds: float, clients: list, one) -> tuple[float, float]:  # noqa: ANN001
    """(requests per second, median latency in ms) of ``one(client)`` looped on each client."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(client) -> None:  # noqa: ANN001
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            await one(client)
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in clients))
    elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


async def socket_client(url: str, bearer: str):  # noqa: ANN201
    ws = await websockets.connect(url, max_size=None)
    await ws.recv()  # connected
    await ws.send(json.dumps({"event": "auth", "data": {"token": bearer}}))
    assert json.loads(await ws.recv())["event"] == "authenticated"
    return ws


def socket_call(event: str, data: dict | None, reply: str):  # noqa: ANN201
    counter = iter(range(10**9))

    async def one(ws) -> None:  # noqa: ANN001
        request_id = f"r{next(counter)}"
        await ws.send(json.dumps({"event": event, "data": data, "requestId": request_id}))
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("requestId") == request_id:
                assert frame["event"] == reply, frame
                return

    return one


async def bench(args: argparse.Namespace, port: int, bearer: str) -> None:
    url = f"ws://127.0.0.1:{port}"
    announce = {"message": "bench", "type": "info"}

    async def http_players(c: HttpClient) -> None:
        assert await c.call("GET", "/api/v1/players") == 200

    async def http_announce(c: HttpClient) -> None:
        assert await c.call("POST", "/api/v1/announcements", announce) == 200

    rows = []
    for name, http_one, event, data, reply in [
        ("getPlayers", http_players, "getPlayers", None, "players"),
        ("announce (command)", http_announce, "announce", announce, "success"),
    ]:
        https = [await HttpClient(port, bearer).open() for _ in range(args.clients)]
        await http_one(https[0])  # warm up
        http_rate, http_ms = await run_for(args.seconds, https, http_one)
        for c in https:
            await c.close()
        sockets = [await socket_client(url, bearer) for _ in range(args.clients)]
        ws_one = socket_call(event, data, reply)
        await ws_one(sockets[0])
        ws_rate, ws_ms = await run_for(args.seconds, sockets, ws_one)
        for ws in sockets:
            await ws.close()
        rows.append((name, http_rate, http_ms, ws_rate, ws_ms))
    print(f"{args.clients} clients, {args.seconds:g} s each, {args.players} players online, server {args.server}")
    print(f"{'operation':<22}{'HTTP req/s':>12}{'HTTP p50':>11}{'socket req/s':>14}{'socket p50':>12}{'HTTP/socket':>13}")
    for name, http_rate, http_ms, ws_rate, ws_ms in rows:
        print(f"{name:<22}{http_rate:>12.0f}{http_ms:>9.2f}ms{ws_rate:>14.0f}{ws_ms:>10.2f}ms{http_rate / ws_rate:>12.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--players", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--server", default="uvicorn", choices=["uvicorn", "daphne"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Path(tmp), {"WS_JWT_SECRET": secrets.token_urlsafe(48), "WS_RATE_READ": "0", "WS_RATE_COMMAND": "0",
                                        "WS_RATE_COMMAND_PER_USER": "0", "LOG_LEVEL": "ERROR"})
        platform.migrate()
        platform.shell("from tests.helpers import make_user; make_user('boss', superuser=True)")
        server = platform.start(args.server)
        sim, output = start_simulator(platform, server.url, "--players", str(args.players),
                                      "--online", str(args.players), "--pace", "0")
        try:
            output.wait_for(r"snapshot \d+ players online", timeout=60)
            now = int(time.time())
            bearer = jwt.encode({"sub": "boss", "permissions": ["admin"], "iat": now, "exp": now + 3600},
                                platform.env["WS_JWT_SECRET"], algorithm="HS256")
            asyncio.run(bench(args, server.port, bearer))
        finally:
            sim.terminate()
            sim.wait(10)
            platform.stop_all()


if __name__ == "__main__":
    main()
