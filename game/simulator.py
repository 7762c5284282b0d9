"""A stand-in FiveM server speaking the bridge protocol (docs/PROTOCOL.md, "The game world").

``World`` is the simulated game (people, who is online, no I/O); ``BridgeLink`` is one
authenticated socket to the platform (requests matched by requestId, the platform's
commands answered with ``commandResult``); ``Simulator`` plays the world over a link:
snapshot on every (re)connect, players who join (after ``checkBan``), select characters,
earn money and leave, and obeys kicks, bans, announcements and job updates, printing
everything it does. ``manage.py simulate_server`` runs it over a real socket; tests
drive the same code in-process over any transport with ``send(text)``/``recv()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

FIRST = ["Alex", "Sam", "Jordan", "Casey", "Riley", "Morgan", "Taylor", "Jamie", "Avery", "Quinn",
         "Rowan", "Drew", "Harper", "Reese", "Skyler", "Emerson"]
LAST = ["Moreno", "Walker", "Nguyen", "Kowalski", "Okafor", "Lindqvist", "Silva", "Brennan",
        "Haddad", "Fischer", "Tanaka", "Duarte", "Novak", "Price", "Ibarra", "Keller"]
TAGS = ["Nova", "Kestrel", "Drift", "Rook", "Blaze", "Echo", "Viper", "Moss", "Pixel", "Atlas",
        "Cinder", "Lynx", "Orbit", "Tango", "Wren", "Zephyr"]
JOBS = [("police", "Police Officer"), ("ambulance", "Paramedic"), ("mechanic", "Mechanic"),
        ("taxi", "Taxi Driver"), ("unemployed", "Unemployed")]
LEAVE_REASONS = ["Disconnected", "Exiting", "Timed out"]


class TransportClosed(Exception):
    """The socket to the platform closed."""


class AuthRefused(Exception):
    """The platform refused the bridge's token; retrying will not help."""


class Transport(Protocol):
    """A text socket: ``recv`` raises :class:`TransportClosed` once it is closed."""

    async def send(self, text: str) -> None: ...
    async def recv(self) -> str: ...
    async def close(self) -> None: ...


# -- the world ---------------------------------------------------------------------------


@dataclass
class Person:
    """Someone who plays on the simulated server, online or not."""

    name: str
    identifiers: dict[str, str]
    character: dict[str, Any]

    @property
    def license(self) -> str:
        """The person's ``license:`` identifier."""
        return self.identifiers["license"]


@dataclass
class OnlinePlayer:
    source: int
    person: Person
    character: dict[str, Any] | None = None

    def as_bridge(self) -> dict:
        """The player as the bridge reports them in a snapshot."""
        return {"source": self.source, "name": self.person.name,
                "identifiers": self.person.identifiers, "character": self.character}

    def label(self) -> str:
        """``#source name``, as printed."""
        return f"#{self.source} {self.person.name}"


class World:
    """The simulated game server: its people and who is online, deterministic by seed."""

    def __init__(self, people: int, *, online: int = 0, seed: int = 1, max_players: int | None = None,
                 server_name: str = "Simulated FiveM server") -> None:
        self.rng = random.Random(seed)
        self.server_name = server_name
        self.max_players = max_players or max(64, people)
        self.people = [self._person(i) for i in range(people)]
        self.online: dict[int, OnlinePlayer] = {}
        self.jobs: list[dict] = []
        self._sources = itertools.count(1)
        self.started = time.monotonic()
        for person in self.people[:online]:
            player = self.admit(person)
            player.character = dict(person.character)

    def _person(self, i: int) -> Person:
        rng = self.rng
        digest = hashlib.sha1(f"{i}:{rng.random()}".encode()).hexdigest()
        job, label = rng.choice(JOBS)
        return Person(
            name=f"{TAGS[i % len(TAGS)]}{i // len(TAGS) or ''}{rng.randint(1, 99)}",
            identifiers={"license": f"license:{digest}",
                         "discord": f"discord:{rng.randint(10**17, 10**18 - 1)}"},
            character={"id": 1000 + i, "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                       "job": label, "cash": rng.randint(0, 50) * 100, "bank": rng.randint(0, 500) * 100},
        )

    def snapshot(self) -> dict:
        """serverSnapshot's data (all players; the link splits it across frames)."""
        return {"serverName": self.server_name, "maxPlayers": self.max_players,
                "uptime": round(time.monotonic() - self.started, 1),
                "players": [p.as_bridge() for p in self.online.values()]}

    def offline(self) -> list[Person]:
        """The people not online now."""
        online = {id(p.person) for p in self.online.values()}
        return [p for p in self.people if id(p) not in online]

    def admit(self, person: Person) -> OnlinePlayer:
        """Put a person online under the next server id."""
        player = OnlinePlayer(next(self._sources), person)
        self.online[player.source] = player
        return player

    def remove(self, source: int) -> OnlinePlayer | None:
        """Take a player offline; None when no such player is online."""
        return self.online.pop(source, None)


# -- the socket ----------------------------------------------------------------------------


class PlatformError(Exception):
    """The platform answered a request with an error frame."""

    def __init__(self, data: dict) -> None:
        self.code = data.get("code", "error")
        super().__init__(f"{data.get('message', 'error')} ({self.code})")


CommandHandler = Callable[[str, Any], Awaitable[tuple[bool, str]]]


@dataclass
class BridgeLink:
    """One socket to the platform: requests by requestId; the platform's commands answered."""

    transport: Transport
    on_command: CommandHandler
    on_notice: Callable[[dict], Awaitable[None]]
    client_id: str = ""
    _pending: dict[str, asyncio.Future] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _tasks: set = field(default_factory=set)

    async def recv_json(self) -> dict:
        """The next frame, decoded."""
        return json.loads(await self.transport.recv())

    async def send(self, event: str, data: Any = None, request_id: str | None = None) -> None:
        """Send one envelope (no answer awaited)."""
        message: dict = {"event": event}
        if data is not None:
            message["data"] = data
        if request_id is not None:
            message["requestId"] = request_id
        await self.transport.send(json.dumps(message, separators=(",", ":")))

    async def request(self, event: str, data: Any = None, timeout: float = 15) -> dict:
        """Send a request and wait for its answer; :class:`PlatformError` for an error frame."""
        request_id = f"sim-{next(self._ids)}"
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self.send(event, data, request_id)
            answer = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)
        if answer.get("event") == "error":
            raise PlatformError(answer.get("data") or {})
        return answer

    async def handshake(self, token: str) -> list[str]:
        """Wait for ``connected``, authenticate; the permissions granted."""
        hello = await self.recv_json()
        if hello.get("event") != "connected":
            raise TransportClosed(f"unexpected first frame {hello.get('event')!r}")
        self.client_id = hello["data"]["clientId"]
        await self.send("auth", {"token": token}, "auth")
        reply = await self.recv_json()
        if reply.get("event") != "authenticated":
            raise AuthRefused((reply.get("data") or {}).get("message", "auth refused"))
        return reply["data"]["permissions"]

    async def listen(self) -> None:
        """Read frames until the socket closes: answers, commands, notices."""
        try:
            while True:
                message = await self.recv_json()
                request_id = message.get("requestId")
                future = self._pending.get(request_id) if isinstance(request_id, str) else None
                if future is not None and not future.done():
                    future.set_result(message)
                elif isinstance(request_id, str) and request_id.startswith("srv-"):
                    task = asyncio.ensure_future(self._answer(message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                else:
                    await self.on_notice(message)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(TransportClosed("the socket closed"))

    async def _answer(self, message: dict) -> None:
        ok, text = await self.on_command(message.get("event", ""), message.get("data"))
        with contextlib.suppress(TransportClosed, ConnectionError):
            await self.send("commandResult", {"ok": ok, "message": text}, message["requestId"])


# -- playing the world ---------------------------------------------------------------------


def frames(players: list[dict], budget: int) -> list[list[dict]]:
    """Players split into chunks whose JSON stays under ``budget`` bytes each."""
    chunks: list[list[dict]] = [[]]
    size = 0
    for player in players:
        cost = len(json.dumps(player, separators=(",", ":")).encode()) + 1
        if chunks[-1] and size + cost > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(player)
        size += cost
    return chunks


class Simulator:
    """Plays a :class:`World` over a :class:`BridgeLink` and prints what it does."""

    def __init__(self, world: World, *, log: Callable[[str], None] = print, pace: float = 0.0,
                 frame_budget: int = 48 * 1024) -> None:
        self.world = world
        self.log = log
        self.pace = pace
        self.frame_budget = frame_budget
        self.link: BridgeLink | None = None
        self.lock = asyncio.Lock()  # one change at a time: commands never race a tick
        self.renew_token: Callable[[], Awaitable[str]] | None = None
        self._listener: asyncio.Future | None = None

    # -- connection -------------------------------------------------------------------

    async def connect(self, transport: Transport, token: str) -> BridgeLink:
        """Authenticate, send the snapshot, start answering commands; the link."""
        link = BridgeLink(transport, self._on_command, self._on_notice)
        await link.handshake(token)
        self.link = link
        self.log(f"connected as bridge (client {link.client_id})")
        self._listener = asyncio.ensure_future(link.listen())
        try:
            await self.send_snapshot()
        except BaseException:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            raise
        return link

    async def send_snapshot(self) -> None:
        """Send the whole world, in as many frames as it needs; keep the jobs it answers."""
        snapshot = self.world.snapshot()
        chunks = frames(snapshot.pop("players"), self.frame_budget)
        reply = await self.link.request("serverSnapshot", {**snapshot, "players": chunks[0]})
        for chunk in chunks[1:]:
            await self.link.request("snapshotPlayers", {"players": chunk})
        self.world.jobs = reply["data"].get("jobs", [])
        self.log(f"snapshot {len(self.world.online)} players online, {len(self.world.jobs)} jobs known "
                 f"({len(chunks)} frame{'s' if len(chunks) > 1 else ''})")

    async def play(self) -> None:
        """Act every ``pace`` seconds (never when pace is 0) until the socket closes."""
        ticker = asyncio.ensure_future(self._tick_forever()) if self.pace > 0 else None
        try:
            await self._listener
        finally:
            if ticker:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ticker

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.pace)
            try:
                await self.tick()
            except PlatformError as error:
                self.log(f"error    {error}")

    # -- what players do --------------------------------------------------------------

    async def tick(self) -> None:
        """One random step of the world: a join, a character choice, a change or a leave."""
        world, rng = self.world, self.world.rng
        without = [p for p in world.online.values() if p.character is None]
        with_char = [p for p in world.online.values() if p.character is not None]
        offline = world.offline()
        roll = rng.random()
        if without and roll < 0.5:
            await self.select(rng.choice(without))
        elif offline and len(world.online) < world.max_players and (roll < 0.8 or not world.online):
            await self.join(rng.choice(offline))
        elif world.online and roll < 0.9:
            await self.leave(rng.choice(list(world.online.values())), rng.choice(LEAVE_REASONS))
        elif with_char:
            await self.earn(rng.choice(with_char), rng.randint(-20, 40) * 10)

    async def join(self, person: Person) -> OnlinePlayer | None:
        """The person connects: admitted unless the platform says they are banned."""
        async with self.lock:
            status = (await self.link.request("checkBan", {"identifiers": person.identifiers,
                                                          "name": person.name}))["data"]
            if status["banned"]:
                until = f"until {status['expiresAt']}" if status["expiresAt"] else "permanently"
                self.log(f"refused  {person.name} ({person.license}): banned {until}: {status['reason']}")
                return None
            player = self.world.admit(person)
            await self.link.request("playerJoined", {"source": player.source, "name": person.name,
                                                     "identifiers": person.identifiers})
            self.log(f"joined   {player.label()} ({person.license})")
            return player

    async def select(self, player: OnlinePlayer) -> None:
        """The player picks their character."""
        async with self.lock:
            if player.source not in self.world.online:
                return
            player.character = dict(player.person.character)
            await self.link.request("characterSelected", {"source": player.source, "character": player.character})
            self.log(f"selected {player.label()} as {player.character['name']} ({player.character['job']})")

    async def earn(self, player: OnlinePlayer, amount: int) -> None:
        """The player's character earns (or spends) cash."""
        async with self.lock:
            if player.source not in self.world.online or player.character is None:
                return
            cash = max(0, player.character["cash"] + amount)
            player.character["cash"] = player.person.character["cash"] = cash
            await self.link.request("characterUpdated", {"source": player.source, "cash": cash})
            self.log(f"cash     {player.label()} now {cash}")

    async def leave(self, player: OnlinePlayer, reason: str) -> None:
        """The player quits the game."""
        async with self.lock:
            if self.world.remove(player.source) is None:
                return
            await self.link.request("playerLeft", {"source": player.source, "reason": reason})
            self.log(f"left     {player.label()}: {reason}")

    # -- what the platform asks ---------------------------------------------------------

    async def _on_command(self, command: str, data: Any) -> tuple[bool, str]:
        data = data if isinstance(data, dict) else {}
        handler = {
            "kickPlayer": self._kick, "banPlayer": self._ban,
            "announce": self._announce, "jobsChanged": self._jobs,
        }.get(command)
        if handler is None:
            self.log(f"unknown  command {command!r}")
            return False, f"unknown command {command}"
        return await handler(data)

    async def _drop(self, data: dict, done: str, until: str = "") -> tuple[bool, str]:
        """Kick or ban: the player leaves the game (``done`` is "kicked" or "banned")."""
        async with self.lock:
            player = self.world.remove(data.get("source"))
            if player is None:
                self.log(f"missing  player {data.get('source')} could not be {done}")
                return False, f"no player {data.get('source')}"
            reason = data.get("reason", "")
            self.log(f"{done:8} {player.label()}{until}: {reason}")
            # Answer first, then report the leave as the game's playerDropped would.
            task = asyncio.ensure_future(self._report_drop(player, f"{done.capitalize()}: {reason}"))
            self.link._tasks.add(task)
            task.add_done_callback(self.link._tasks.discard)
            return True, f"{player.person.name} {done}"

    async def _report_drop(self, player: OnlinePlayer, reason: str) -> None:
        async with self.lock:
            with contextlib.suppress(PlatformError, TransportClosed, ConnectionError, asyncio.TimeoutError):
                await self.link.request("playerLeft", {"source": player.source, "reason": reason})

    async def _kick(self, data: dict) -> tuple[bool, str]:
        return await self._drop(data, "kicked")

    async def _ban(self, data: dict) -> tuple[bool, str]:
        return await self._drop(data, "banned", f" until {data['expiresAt']}" if data.get("expiresAt") else " permanently")

    async def _announce(self, data: dict) -> tuple[bool, str]:
        self.log(f"announce [{data.get('type', 'info')}] {data.get('message', '')}")
        return True, f"shown to {len(self.world.online)} players"

    async def _jobs(self, data: dict) -> tuple[bool, str]:
        self.world.jobs = data.get("jobs") or []
        self.log(f"jobs     {len(self.world.jobs)} definitions received")
        return True, f"loaded {len(self.world.jobs)} job definitions"

    async def _on_notice(self, message: dict) -> None:
        event, data = message.get("event"), message.get("data") or {}
        if event == "bridgeReplaced":
            # Another bridge of this server (same token's account) took over; reconnecting
            # would only take it back, forever: this one stops (the platform closes it, 4011).
            self.replaced = True
            self.log(f"replaced another bridge took over (client {data.get('clientId')})")
        elif event == "tokenExpiring" and self.renew_token is not None:
            token = await self.renew_token()
            await self.link.send("auth", {"token": token}, "renew")
            self.log("token    renewed")
        elif event == "error":
            self.log(f"error    {data.get('message')} ({data.get('code')})")

    # -- running as a program ---------------------------------------------------------

    async def run(self, open_transport: Callable[[], Awaitable[Transport]], token: Callable[[], Awaitable[str]],
                  *, url: str = "", stop: asyncio.Event | None = None, max_backoff: float = 10.0) -> None:
        """Connect, play, and reconnect with backoff (re-sending the snapshot) until stopped."""
        jitter = random.Random()
        attempt = 0
        stop = stop or asyncio.Event()
        while not stop.is_set():
            transport = None
            try:
                transport = await open_transport()
                self.log(f"socket   open to {url}")
                await self.connect(transport, await token())
                attempt = 0
                await _until(self.play(), stop)
            except AuthRefused as error:
                self.log(f"refused  by the platform: {error}")
                raise
            except (OSError, TransportClosed, PlatformError, asyncio.TimeoutError, ConnectionError) as error:
                self.log(f"lost     connection ({type(error).__name__}: {error})")
            finally:
                if transport is not None:
                    with contextlib.suppress(Exception):
                        await transport.close()
            if stop.is_set():
                break
            if getattr(self, "replaced", False):
                self.log("stopped  replaced by another bridge of this game server; not reconnecting")
                break
            delay = min(max_backoff, 0.5 * 2**attempt) * (0.8 + 0.4 * jitter.random())
            attempt += 1
            self.log(f"retry    in {delay:.1f}s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def _until(coroutine: Awaitable[None], stop: asyncio.Event) -> None:
    """Run ``coroutine`` until it ends or ``stop`` is set."""
    task = asyncio.ensure_future(coroutine)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
    finally:
        for t in (task, stopper):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


class WebsocketsTransport:
    """A :class:`Transport` over the ``websockets`` client library."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @classmethod
    async def open(cls, url: str) -> WebsocketsTransport:
        """Connect to the platform's socket at ``url``."""
        from websockets.asyncio.client import connect

        return cls(await connect(url, max_size=16 * 2**20, open_timeout=10, ping_interval=20))

    async def send(self, text: str) -> None:
        """Send one text frame."""
        from websockets.exceptions import ConnectionClosed

        try:
            await self.connection.send(text)
        except ConnectionClosed as error:
            raise TransportClosed(str(error)) from None

    async def recv(self) -> str:
        """The next text frame."""
        from websockets.exceptions import ConnectionClosed

        try:
            return await self.connection.recv()
        except ConnectionClosed as error:
            raise TransportClosed(str(error)) from None

    async def close(self) -> None:
        """Close the socket."""
        await self.connection.close()
