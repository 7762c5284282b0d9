"""Positions and history of the broadcasts (docs/PROTOCOL.md, "Positions and recovery").

Every broadcast a client may receive carries ``"position": {"epoch", "offset"}`` in its
envelope. The offset increases by one per broadcast; the epoch names one unbroken history
and changes when that history is lost. A client that reconnects sends the last position it
saw (``auth`` with ``since``) and, when everything after it is still held, gets exactly the
broadcasts it missed (:meth:`History.after`), filtered by its permissions.

Two backends, chosen by :func:`for_hub`:

- :class:`MemoryHistory` (no ``REDIS_URL``): the process's hub numbers the broadcasts as
  it receives them from the in-memory channel layer (one process, one order) and keeps the
  last ones in a deque. A new process is a new epoch.
- :class:`RedisHistory` (``REDIS_URL``): the broadcasts themselves travel through a Redis
  stream, numbered by a Lua script that appends them atomically, and every process's hub
  reads that stream (``XREAD``), so every process delivers them in the same order and any
  process can replay them. A lost stream (Redis flushed) is a new epoch.

Both are bounded by ``WS_HISTORY_SIZE`` broadcasts and ``WS_HISTORY_TTL`` seconds;
``WS_HISTORY_SIZE=0`` turns positions and history off (broadcasts travel as before).

Keys (Redis), under WS_REDIS_PREFIX:
  <prefix>:ws:history         stream: o (offset), e (epoch), m (the hub message, JSON)
  <prefix>:ws:history:meta    hash: epoch, offset (the last one given)
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings

from realtime import presence
from realtime.protocol import to_json

if TYPE_CHECKING:
    from realtime.hub import Hub

log = logging.getLogger(__name__)


class Entry(NamedTuple):
    """One broadcast as history holds it: its offset, its hub message, its frame text."""

    offset: int
    message: dict
    text: str


def enabled() -> bool:
    """Whether broadcasts get positions and a history (WS_HISTORY_SIZE > 0)."""
    return settings.WS_HISTORY_SIZE > 0


def new_epoch() -> str:
    return secrets.token_hex(8)


def stamp(text: str, position: dict) -> str:
    """The frame ``text`` (a JSON object) with ``position`` added to its envelope."""
    return f'{text[:-1]},"position":{to_json(position)}}}'


def valid_since(since: Any) -> bool:
    return (
        isinstance(since, dict)
        and isinstance(since.get("epoch"), str)
        and isinstance(since.get("offset"), int)
        and not isinstance(since.get("offset"), bool)
        and since["offset"] >= 0
    )


class History:
    """What the hub asks of a history backend."""

    epoch: str
    offset: int  # the last broadcast this hub has delivered

    def position(self) -> dict:
        """The position of the last broadcast this process delivered: a snapshot read
        after this is current as of it."""
        return {"epoch": self.epoch, "offset": self.offset}

    async def start(self, hub: Hub) -> list[asyncio.Task]:
        """Get ready to deliver; the tasks the hub should own (and cancel)."""
        return []

    async def publish(self, hub: Hub, message: dict) -> None:
        """Send a ``hub.broadcast`` message to every process's hub."""
        await hub.layer.group_send(hub.group, message)

    def received(self, message: dict) -> tuple[str, int | None]:
        """The text to deliver for a ``hub.broadcast`` message this hub received, and its
        offset (None: it came without one)."""
        raise NotImplementedError

    async def after(self, epoch: str, offset: int) -> list[Entry] | None:
        """Every broadcast after ``(epoch, offset)``, oldest first, or None when history
        no longer holds all of them (another epoch, too old, trimmed)."""
        raise NotImplementedError


class MemoryHistory(History):
    """The last broadcasts of this process, numbered as its hub receives them."""

    def __init__(self, size: int, ttl: float) -> None:
        self.epoch = new_epoch()
        self.offset = 0
        self.ttl = ttl
        self._entries: deque[tuple[float, Entry]] = deque(maxlen=size)

    def received(self, message: dict) -> tuple[str, int | None]:
        self.offset += 1
        text = stamp(message["text"], {"epoch": self.epoch, "offset": self.offset})
        now = time.monotonic()
        self._entries.append((now, Entry(self.offset, message, text)))
        self._prune(now)
        return text, self.offset

    def _prune(self, now: float) -> None:
        while self._entries and self._entries[0][0] < now - self.ttl:
            self._entries.popleft()

    async def after(self, epoch: str, offset: int) -> list[Entry] | None:
        if epoch != self.epoch or offset > self.offset:
            return None
        if offset == self.offset:
            return []
        self._prune(time.monotonic())
        if not self._entries or self._entries[0][1].offset > offset + 1:
            return None
        return [entry for _, entry in self._entries if entry.offset > offset]


# Append one broadcast: a new epoch (and an empty stream) when the meta hash is gone, the
# next offset, the entry, then both bounds. Atomic, so offsets and stream order agree.
_PUBLISH = """
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'offset', 0)
end
local offset = redis.call('HINCRBY', KEYS[2], 'offset', 1)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'o', offset, 'e', epoch, 'm', ARGV[4])
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[3]))
return offset
"""

# The epoch (created when missing), the last offset and the last stream id: where a hub
# that starts now begins reading.
_HEAD = """
redis.call('HSETNX', KEYS[2], 'epoch', ARGV[1])
local meta = redis.call('HMGET', KEYS[2], 'epoch', 'offset')
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if last[1] then id = last[1][1] end
return {meta[1], meta[2] or '0', id}
"""

# What follows offset ARGV[2]: drop what is older than the window first, then the newest
# (head - since) entries, which are exactly those after it when nothing was trimmed.
_AFTER = """
local meta = redis.call('HMGET', KEYS[2], 'epoch', 'offset')
if not meta[1] then return {'', '0', {}} end
local head = tonumber(meta[2] or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[1]))
local since = tonumber(ARGV[2])
local missed = head - since
if missed <= 0 or missed > tonumber(ARGV[3]) then return {meta[1], tostring(head), {}} end
return {meta[1], tostring(head), redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', missed)}
"""


def stream_key() -> str:
    return f"{settings.WS_REDIS_PREFIX}:ws:history"


def meta_key() -> str:
    return f"{settings.WS_REDIS_PREFIX}:ws:history:meta"


class RedisHistory(History):
    """The last broadcasts of every process, in a Redis stream that is also their way in."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl_ms = int(ttl * 1000)
        self.epoch = ""
        self.offset = 0
        self._last_id = "0-0"
        self._scripts: dict[tuple[int, str], Any] = {}

    def _script(self, source: str) -> Any:
        """``source`` as a redis-py Script (EVALSHA, loaded once) on this loop's client."""
        client = presence.redis_client()
        key = (id(client), source)
        script = self._scripts.get(key)
        if script is None:
            script = self._scripts[key] = client.register_script(source)
        return script

    async def start(self, hub: Hub) -> list[asyncio.Task]:
        self.epoch, offset, self._last_id = await self._script(_HEAD)(
            keys=[stream_key(), meta_key()], args=[new_epoch()]
        )
        self.offset = int(offset)
        return [asyncio.create_task(self._read(hub), name="realtime-hub-history")]

    async def publish(self, hub: Hub, message: dict) -> None:
        await self._script(_PUBLISH)(
            keys=[stream_key(), meta_key()], args=[new_epoch(), self.size, self.ttl_ms, to_json(message)]
        )

    def received(self, message: dict) -> tuple[str, int | None]:
        position = message.get("position")
        if position is None:  # sent to the hubs' group directly, not through history
            return message["text"], None
        self.epoch, self.offset = position["epoch"], position["offset"]
        return stamp(message["text"], position), self.offset

    async def _read(self, hub: Hub) -> None:
        r = presence.redis_client()
        key, backoff = stream_key(), 0.1
        while True:
            try:
                # A long poll, bounded well inside the client's socket timeout (5 s).
                batches = await r.xread({key: self._last_id}, count=512, block=1000)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis failed; keep serving, retry
                log.warning("hub: reading the history stream failed; retrying", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for _, entries in batches or ():
                for entry_id, fields in entries:
                    self._last_id = entry_id
                    try:
                        message = json.loads(fields["m"])
                        message["position"] = {"epoch": fields["e"], "offset": int(fields["o"])}
                        await hub.handle(message)
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # noqa: BLE001 - one bad entry must not stop the hub
                        log.exception("hub: delivering history entry %s failed", entry_id)

    async def after(self, epoch: str, offset: int) -> list[Entry] | None:
        held_epoch, head, rows = await self._script(_AFTER)(
            keys=[stream_key(), meta_key()], args=[self.ttl_ms, offset, self.size]
        )
        head = int(head)
        if held_epoch != epoch or offset > head:
            return None
        if offset == head:
            return []
        # A script's reply is raw: each row is [id, [field, value, ...]].
        rows = [dict(zip(flat[::2], flat[1::2])) for _, flat in reversed(rows)]
        entries = []
        for fields in rows:
            message = json.loads(fields["m"])
            position = {"epoch": fields["e"], "offset": int(fields["o"])}
            entries.append(Entry(position["offset"], message, stamp(message["text"], position)))
        expected = list(range(offset + 1, head + 1))
        if [e.offset for e in entries] != expected or any(
            fields["e"] != epoch for fields in rows
        ):
            return None  # trimmed (count or age), or another epoch's entries
        return entries


def for_hub() -> History | None:
    """The history this process's hub keeps, or None when positions are off."""
    if not enabled():
        return None
    cls = RedisHistory if presence.uses_redis() else MemoryHistory
    return cls(settings.WS_HISTORY_SIZE, settings.WS_HISTORY_TTL)
