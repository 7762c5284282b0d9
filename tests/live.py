"""Real server processes for end-to-end tests: `manage.py serve` on a free port."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Platform:
    """The platform's environment for live tests: one database, any number of processes."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.env = {
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.processes: list[Server] = []

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=check, timeout=120,
        )

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code).stdout

    def migrate(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")

    def start(self, server: str = "daphne", port: int | None = None, **env: str) -> "Server":
        proc = Server(self, port or free_port(), server, env)
        proc.start()
        self.processes.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.processes:
            proc.stop()


class Server:
    def __init__(self, platform: Platform, port: int, server: str, env: dict[str, str]) -> None:
        self.platform, self.port, self.server, self.extra_env = platform, port, server, env
        self.proc: subprocess.Popen | None = None
        self.log_path = platform.workdir / f"server-{port}.log"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(self.port), "--server", self.server],
            cwd=ROOT, env={**self.platform.env, **self.extra_env}, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not reachable("127.0.0.1", self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not listen within {timeout}s: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


# -- clients and the simulator, for end-to-end tests ------------------------------------


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
        from websockets.asyncio.client import connect

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
    from tests.helpers import spec_token

    return spec_token(sub, permissions, secret=platform.env["WS_JWT_SECRET"])


def start_simulator(platform, url: str, *args: str) -> tuple[subprocess.Popen, Output]:  # noqa: ANN001
    """``manage.py simulate_server`` (one player joining soon, unless ``args`` say otherwise)."""
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_server", "--url", url,
         *(args or ("--players", "1", "--online", "0", "--pace", "0.2", "--seed", "3"))],
        cwd=ROOT, env=platform.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return proc, Output(proc)


# -- raw sockets (the websockets library), for end-to-end tests ----------------------------


async def recv(ws: Any, timeout: float = 5) -> dict:
    """The next frame, decoded."""
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def expect(ws: Any, event: str, timeout: float = 5) -> dict:
    """The next frame named ``event``, skipping others (broadcasts interleave with replies)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await recv(ws, timeout)
            if frame["event"] == event:
                return frame


async def open_authed(url: str, token: str) -> tuple[Any, str]:
    """An authenticated socket and its clientId."""
    import websockets

    ws = await websockets.connect(url)
    hello = await recv(ws)
    await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
    reply = await recv(ws)
    assert reply["event"] == "authenticated", reply
    return ws, hello["data"]["clientId"]


async def close_code(ws: Any, timeout: float) -> int | None:
    """Wait for the server to close the socket; its close code."""
    import websockets

    async with asyncio.timeout(timeout):
        while True:
            try:
                await ws.recv()
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
