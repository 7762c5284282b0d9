"""Drive the FiveM resource under Node (fivem/test/harness.js) from async tests.

The harness runs fivem/server/main.js with the FiveM natives replaced by a recording
stand-in; it reads one JSON command per line and writes one JSON record per line. This
module keeps every record, so a test can wait for the one it expects and also check
what must not have happened (no unhandled rejection, no script error).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import websockets

from tests.live import ROOT

HARNESS = ROOT / "fivem" / "test" / "harness.js"
Record = dict[str, Any]

# The platform's accounts for these tests: the bridge's service account and an admin.
ACCOUNTS = """
from tests.helpers import make_user
make_user("gameserver", ["gameserver"])
make_user("admin", ["admin"])
make_user("viewer", ["players.view"])
"""


def node() -> str | None:
    """The node executable, or None."""
    return shutil.which("node")


class Resource:
    """One run of the resource: commands in, records out."""

    def __init__(self, convars: dict[str, str], resource_name: str = "websocket", seed_players: int = 0,
                 env: dict[str, str] | None = None) -> None:
        self.convars = convars
        self.env = env  # extra environment for node (e.g. NODE_EXTRA_CA_CERTS)
        self.resource_name = resource_name
        self.seed_players = seed_players
        self.records: list[Record] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task | None = None
        self._ids = itertools.count(1)
        self.stderr = b""

    async def start(self) -> Resource:
        args = [str(HARNESS), "--resource-name", self.resource_name, "--seed-players", str(self.seed_players)]
        for name, value in self.convars.items():
            args += ["--convar", f"{name}={value}"]
        self.proc = await asyncio.create_subprocess_exec(
            node(), *args, cwd=ROOT, env={**os.environ, **self.env} if self.env else None, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.ensure_future(self._read())
        await self.wait_for(lambda r: r["type"] == "ready", what="the resource to load")
        return self

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        while line := await self.proc.stdout.readline():
            record = json.loads(line)
            record["_at"] = time.monotonic()  # when it arrived here, for bench/fivem_bridge.py
            async with self._changed:
                self.records.append(record)
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def send(self, command: dict) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()

    async def wait_for(self, predicate: Callable[[Record], bool], *, after: int = 0,
                       timeout: float = 10, what: str = "a record") -> Record:
        """The first record from index ``after`` on that matches ``predicate``."""

        def found() -> Record | None:
            return next((r for r in self.records[after:] if predicate(r)), None)

        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: found() is not None or self.proc.returncode is not None
                                           or (self._reader and self._reader.done())),
                    timeout,
                )
            except TimeoutError:
                pass
            record = found()
        if record is None:
            raise AssertionError(f"no {what} within {timeout}s; records:\n{self.dump()}")
        return record

    async def wait_console(self, text: str, *, after: int = 0, timeout: float = 10) -> Record:
        return await self.wait_for(lambda r: r["type"] == "console" and text in r["text"],
                                   after=after, timeout=timeout, what=f"console line with {text!r}")

    async def wait_event(self, name: str, *, after: int = 0, timeout: float = 10) -> Record:
        return await self.wait_for(lambda r: r["type"] == "event" and r["name"] == name,
                                   after=after, timeout=timeout, what=f"event {name}")

    async def wait_online(self, *, after: int = 0, timeout: float = 15) -> str:
        """The clientId the resource has once authenticated and its snapshot is accepted."""
        event = await self.wait_event("websocket:connected", after=after, timeout=timeout)
        await self.wait_console("snapshot sent", after=after, timeout=timeout)
        return event["args"][0]

    async def connect_player(self, source: int, name: str, identifiers: list[str], timeout: float = 10,
                             abandon: bool = False) -> Record:
        """A player connects through playerConnecting (``abandon``: gives up meanwhile); the result."""
        mark = len(self.records)
        await self.send({"cmd": "connect", "source": source, "name": name, "identifiers": identifiers,
                         "abandon": abandon})
        return await self.wait_for(lambda r: r["type"] == "connectResult" and r["source"] == source,
                                   after=mark, timeout=timeout, what=f"connect result of {source}")

    async def start_export(self, name: str, *args: Any, resource: str = "[websocket]") -> int:
        """Call an export as another resource would, without waiting; the call's id."""
        call_id = next(self._ids)
        await self.send({"cmd": "export", "id": call_id, "resource": resource, "name": name, "args": list(args)})
        return call_id

    async def export_result(self, call_id: int, timeout: float = 15) -> Record:
        return await self.wait_for(lambda r: r["type"] == "exportResult" and r["id"] == call_id,
                                   timeout=timeout, what=f"result of export call {call_id}")

    async def call_export(self, name: str, *args: Any, resource: str = "[websocket]", timeout: float = 15) -> Record:
        """Call an export as another resource would; its exportResult record."""
        return await self.export_result(await self.start_export(name, *args, resource=resource), timeout)

    async def run_script(self, code: str, result: str, timeout: float = 10) -> Record:
        """Run JavaScript as another resource's server script would; the value of ``result``."""
        script_id = next(self._ids)
        await self.send({"cmd": "script", "id": script_id, "code": code, "result": result})
        return await self.wait_for(lambda r: r["type"] == "scriptResult" and r["id"] == script_id,
                                   timeout=timeout, what=f"result of script {script_id}")

    def natives(self, name: str) -> list[list]:
        """The arguments of every call to native ``name`` so far."""
        return [r["args"] for r in self.records if r["type"] == "native" and r["name"] == name]

    def problems(self) -> list[Record]:
        """Script errors and unhandled rejections: none may ever happen."""
        return [r for r in self.records if r["type"] in {"error", "unhandledRejection"}]

    def dump(self) -> str:
        return "\n".join(json.dumps(r) for r in self.records[-60:])

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            await self.send({"cmd": "stop"})
            await asyncio.wait_for(self.proc.wait(), 5)
        except (TimeoutError, ConnectionError, BrokenPipeError):
            self.proc.kill()
            await self.proc.wait()
        if self._reader:
            await asyncio.wait_for(self._reader, 5)
        self.stderr = await self.proc.stderr.read()


class Admin:
    """An admin panel's socket (the websockets library), as the spec's clients speak.

    Frames that arrive while a test waits for another one are kept, so a broadcast that
    overtakes a reply is still there for the next ``expect``.
    """

    def __init__(self, ws, client_id: str) -> None:
        self.ws, self.client_id = ws, client_id
        self.backlog: list[dict] = []
        self.n = 0

    @classmethod
    async def open(cls, url: str, token: str, **connect: Any) -> Admin:
        ws = await websockets.connect(url, **connect)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["event"] == "authenticated", reply
        return cls(ws, hello["data"]["clientId"])

    async def _next(self, match, timeout: float) -> dict:
        for i, frame in enumerate(self.backlog):
            if match(frame):
                return self.backlog.pop(i)
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                if match(frame):
                    return frame
                self.backlog.append(frame)

    async def expect(self, event: str, timeout: float = 10, where=lambda frame: True) -> dict:
        """The first frame named ``event`` (and matching ``where``), received or kept."""
        return await self._next(lambda f: f["event"] == event and where(f), timeout)

    async def request(self, event: str, data: dict | None = None, timeout: float = 10) -> dict:
        """Send a request; its reply or error frame (matched by requestId)."""
        self.n += 1
        request_id = f"admin-{self.n}"
        message = {"event": event, "requestId": request_id}
        if data is not None:
            message["data"] = data
        await self.ws.send(json.dumps(message))
        return await self._next(lambda f: f.get("requestId") == request_id, timeout)

    async def close(self) -> None:
        await self.ws.close()
