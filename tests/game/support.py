"""Helpers for the game tests: the simulator's bridge logic over the in-process ASGI app,
hand-driven bridges, and query counting across database_sync_to_async's thread."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from django.db.backends.utils import CursorWrapper

from game.simulator import Simulator, TransportClosed, World
from tests.helpers import Client, spec_token

ADMIN_PERMS = ["admin"]


class CommunicatorTransport:
    """The simulator's Transport over a tests.helpers.Client (the real ASGI app)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def send(self, text: str) -> None:
        await self.client.comm.send_to(text_data=text)

    async def recv(self) -> str:
        output = await self.client.comm.receive_output(timeout=600)
        if output["type"] == "websocket.close":
            raise TransportClosed(f"closed with {output.get('code')}")
        return output["text"]

    async def close(self) -> None:
        await self.client.comm.disconnect()


class SimulatedServer:
    """A Simulator connected in-process, with every line it printed kept."""

    def __init__(self, world: World, username: str = "gameserver") -> None:
        self.lines: list[str] = []
        self.world = world
        self.sim = Simulator(world, log=self.lines.append, pace=0, frame_budget=48 * 1024)
        self.username = username
        self.client: Client | None = None

    async def start(self) -> SimulatedServer:
        self.client = Client()
        connected, _ = await self.client.comm.connect()
        assert connected
        await self.sim.connect(CommunicatorTransport(self.client), spec_token(self.username, ["gameserver"]))
        return self

    def printed(self, prefix: str) -> list[str]:
        return [line for line in self.lines if line.startswith(prefix)]

    async def stop(self) -> None:
        listener = self.sim._listener
        await self.client.close()
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener


async def simulated(people: int = 3, online: int = 2, seed: int = 7, **kwargs: Any) -> SimulatedServer:
    """A started simulated game server (the gameserver user must exist)."""
    return await SimulatedServer(World(people, online=online, seed=seed, **kwargs)).start()


class GameClient(Client):
    """A Client that keeps the frames it skipped (in :func:`ask` and ``expect``) for later:
    broadcasts caused by one action may come in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.backlog: list[dict] = []

    async def recv(self, timeout: float = 3) -> dict:
        if self.backlog:
            return self.backlog.pop(0)
        return await super().recv(timeout)

    async def expect(self, event: str, timeout: float = 3) -> dict:
        """The first frame named ``event``; frames of other names stay for later."""
        for i, frame in enumerate(self.backlog):
            if frame["event"] == event:
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} frame within {timeout}s")
            frame = await Client.recv(self, remaining)
            if frame["event"] == event:
                return frame
            self.backlog.append(frame)


async def game_client(token: str) -> GameClient:
    """An authenticated GameClient."""
    client = GameClient()
    await client.open()
    reply = await client.auth(token)
    assert reply["event"] == "authenticated", reply
    return client


async def bridge_client(username: str = "gameserver") -> GameClient:
    """A hand-driven bridge socket: authenticated with the gameserver grant, nothing sent."""
    return await game_client(spec_token(username, ["gameserver"]))


async def ask(client: Client, event: str, data: Any = None, request_id: Any = "r", timeout: float = 3) -> dict:
    """Send a request and return the frame answering it, skipping broadcasts meanwhile."""
    message: dict = {"event": event, "requestId": request_id}
    if data is not None:
        message["data"] = data
    await client.send(message)
    deadline = time.monotonic() + timeout
    skipped = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no answer to {event} within {timeout}s")
        frame = await Client.recv(client, remaining)
        if frame.get("requestId") == request_id:
            if isinstance(client, GameClient):
                client.backlog.extend(skipped)
            return frame
        skipped.append(frame)


async def send_snapshot(bridge: Client, players: list[dict], **extra: Any) -> dict:
    """Send serverSnapshot from a hand-driven bridge; its reply."""
    data = {"serverName": "Test server", "maxPlayers": 64, "uptime": 120, "players": players, **extra}
    return await ask(bridge, "serverSnapshot", data, request_id="snap")


def player(source: int, name: str | None = None, character: dict | None = None) -> dict:
    """A bridge player entry with license and discord identifiers."""
    name = name or f"player{source}"
    return {
        "source": source,
        "name": name,
        "identifiers": {"license": f"license:{name.lower()}", "discord": f"discord:{source}00"},
        "character": character,
    }


async def expect_request(bridge: Client, event: str, timeout: float = 3) -> dict:
    """The next server-to-bridge command named ``event`` (it carries a srv- requestId)."""
    frame = await bridge.expect(event, timeout)
    assert str(frame.get("requestId", "")).startswith("srv-"), frame
    return frame


async def answer(bridge: Client, command: dict, ok: bool = True, message: str = "") -> None:
    await bridge.send({"event": "commandResult", "data": {"ok": ok, "message": message},
                       "requestId": command["requestId"]})


class QueryLog:
    """The SQL statements run meanwhile, by any thread (database_sync_to_async's included)."""

    def __init__(self) -> None:
        self.captured_queries: list[dict] = []

    def __len__(self) -> int:
        return len(self.captured_queries)


@contextlib.contextmanager
def count_queries() -> Iterator[QueryLog]:
    """Record every statement sent to the database while the block runs.

    Django's CaptureQueriesContext only sees the calling thread's connection; the socket's
    handlers run theirs in asgiref's executor threads, so count at the cursor instead.
    """
    log = QueryLog()
    original = CursorWrapper._execute_with_wrappers

    def recording(self, sql, params, many, executor):  # noqa: ANN001, ANN202
        log.captured_queries.append({"sql": sql, "many": many})
        return original(self, sql, params, many, executor)

    CursorWrapper._execute_with_wrappers = recording
    try:
        yield log
    finally:
        CursorWrapper._execute_with_wrappers = original
