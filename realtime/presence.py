"""Which authenticated clients are connected, and to which server process.

With the in-memory channel layer there is one process and the list lives in it. With
Redis (``REDIS_URL``) every process records its clients in Redis and refreshes a heartbeat;
a process that stops refreshing (killed, frozen) is dropped with all its clients once its
heartbeat is ``WS_PRESENCE_TTL`` seconds old, by whichever process looks next.

Keys (Redis), each under WS_REDIS_PREFIX:
  <prefix>:ws:procs              sorted set: process channel -> last heartbeat (unix time)
  <prefix>:ws:where              hash: client id -> process channel
  <prefix>:ws:proc:<channel>     set: the client ids held by that process
  <prefix>:ws:who                hash: client id -> "username<TAB>1" (1: a game server's bridge)
"""

from __future__ import annotations

import asyncio
import time
import weakref

from django.conf import settings

def redis_key(name: str) -> str:
    """A Redis key of the platform's, under WS_REDIS_PREFIX."""
    return f"{settings.WS_REDIS_PREFIX}:ws:{name}"


def procs_key() -> str:
    return redis_key("procs")


def where_key() -> str:
    return redis_key("where")


def who_key() -> str:
    return redis_key("who")


def proc_key(channel: str) -> str:
    return redis_key(f"proc:{channel}")


def uses_redis() -> bool:
    """Whether presence (and the channel layer) are shared through Redis."""
    return bool(getattr(settings, "REDIS_URL", ""))


_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def redis_client():
    """An asyncio Redis client for the running event loop (one per loop)."""
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        _clients[loop] = client
    return client


class RedisPresence:
    """Presence shared by every process through Redis."""

    async def heartbeat(self, channel: str, client_ids: list[str]) -> list[str]:
        """Mark ``channel`` alive and re-assert its clients (heals after a Redis restart);
        the clients of dead processes it found (see :meth:`prune`)."""
        r = redis_client()
        async with r.pipeline(transaction=False) as pipe:
            pipe.zadd(procs_key(), {channel: time.time()})
            if client_ids:
                pipe.sadd(proc_key(channel), *client_ids)
                pipe.hset(where_key(), mapping={cid: channel for cid in client_ids})
            await pipe.execute()
        return await self.prune()

    async def prune(self) -> list[str]:
        """Forget processes whose heartbeat is older than WS_PRESENCE_TTL, and their
        clients; the ids of those clients."""
        r = redis_client()
        dead = await r.zrangebyscore(procs_key(), 0, time.time() - settings.WS_PRESENCE_TTL)
        lost: list[str] = []
        for channel in dead:
            lost.extend(await self.leave(channel))
        return lost

    async def add(self, channel: str, client_id: str, who: str = "") -> None:
        r = redis_client()
        async with r.pipeline(transaction=False) as pipe:
            pipe.sadd(proc_key(channel), client_id)
            pipe.hset(where_key(), client_id, channel)
            if who:
                pipe.hset(who_key(), client_id, who)
            await pipe.execute()

    async def who(self, client_ids: list[str]) -> list[str | None]:
        """What :meth:`add` recorded about each client (None when nothing)."""
        if not client_ids:
            return []
        return await redis_client().hmget(who_key(), client_ids)

    async def remove(self, channel: str, client_id: str) -> None:
        r = redis_client()
        async with r.pipeline(transaction=False) as pipe:
            pipe.srem(proc_key(channel), client_id)
            pipe.hdel(where_key(), client_id)
            pipe.hdel(who_key(), client_id)
            await pipe.execute()

    async def leave(self, channel: str) -> list[str]:
        """Forget process ``channel`` and its clients (it is stopping, or was found dead);
        the clients' ids."""
        r = redis_client()
        ids = await r.smembers(proc_key(channel))
        async with r.pipeline(transaction=True) as pipe:
            if ids:
                pipe.hdel(where_key(), *ids)
                pipe.hdel(who_key(), *ids)
            pipe.delete(proc_key(channel))
            pipe.zrem(procs_key(), channel)
            await pipe.execute()
        return sorted(ids)

    async def live_procs(self) -> list[str]:
        r = redis_client()
        return await r.zrangebyscore(procs_key(), time.time() - settings.WS_PRESENCE_TTL, "+inf")

    async def clients(self) -> list[str]:
        r = redis_client()
        procs = await self.live_procs()
        if not procs:
            return []
        async with r.pipeline(transaction=False) as pipe:
            for channel in procs:
                pipe.smembers(proc_key(channel))
            groups = await pipe.execute()
        return sorted(cid for ids in groups for cid in ids)

    async def locate(self, client_id: str) -> str | None:
        """The live process channel holding ``client_id``, or None."""
        r = redis_client()
        channel = await r.hget(where_key(), client_id)
        if channel is None:
            return None
        score = await r.zscore(procs_key(), channel)
        if score is None or score < time.time() - settings.WS_PRESENCE_TTL:
            return None
        return channel
