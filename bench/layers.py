#!/usr/bin/env python3
"""Channel layers side by side: what the hub asks of them, measured on this machine.

    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/layers.py

The hub uses the layer for exactly two things: ``group_send`` to the ``ws.hubs`` group
(one member per server process) for every broadcast, and ``send`` to one process's channel
(sendToClient, commands to the game server and their answers). This prints, for
channels-redis's core layer and its pub/sub layer, the latency of each (median and p99,
sequential round trips) and the throughput of a burst of group messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

PROCESSES = 4  # hub channels in the group, as if four server processes were running


async def measure(layer) -> dict:  # noqa: ANN001
    channels = [await layer.new_channel("hub.") for _ in range(PROCESSES)]
    for channel in channels:
        await layer.group_add("bench.hubs", channel)
    text = json.dumps({"event": "playerJoined", "data": {"source": 1, "name": "x" * 40}})

    async def drain(channel: str, n: int) -> None:
        for _ in range(n):
            await layer.receive(channel)

    group_lat, send_lat = [], []
    for _ in range(300):
        t0 = time.perf_counter()
        await layer.group_send("bench.hubs", {"type": "hub.broadcast", "text": text})
        await asyncio.gather(*(drain(c, 1) for c in channels))
        group_lat.append((time.perf_counter() - t0) * 1000)
    for _ in range(300):
        t0 = time.perf_counter()
        await layer.send(channels[1], {"type": "hub.send", "client_id": "x", "text": text})
        await layer.receive(channels[1])
        send_lat.append((time.perf_counter() - t0) * 1000)

    burst = 2000
    t0 = time.perf_counter()
    receivers = [asyncio.create_task(drain(c, burst)) for c in channels]
    for _ in range(burst):
        await layer.group_send("bench.hubs", {"type": "hub.broadcast", "text": text})
    await asyncio.gather(*receivers)
    elapsed = time.perf_counter() - t0

    for channel in channels:
        await layer.group_discard("bench.hubs", channel)
    q = lambda xs, p: sorted(xs)[int(p * (len(xs) - 1))]  # noqa: E731
    return {
        "group_send_p50_ms": round(statistics.median(group_lat), 3),
        "group_send_p99_ms": round(q(group_lat, 0.99), 3),
        "send_p50_ms": round(statistics.median(send_lat), 3),
        "send_p99_ms": round(q(send_lat, 0.99), 3),
        "broadcasts_per_s": round(burst / elapsed),
    }


async def main() -> None:
    url = os.environ.get("REDIS_URL")
    if not url:
        sys.exit("set REDIS_URL")
    results = {}
    results["core"] = await measure(RedisChannelLayer(hosts=[url], capacity=5000))
    pubsub = RedisPubSubChannelLayer(hosts=[url])
    results["pubsub"] = await measure(pubsub)
    await pubsub.flush()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
