"""The cost the slow-consumer check adds to the broadcast hot path: one consumer.deliver()
per socket per broadcast, timed in-process with a no-op ASGI send (best of 7 runs), without the flow
extension and with daphne's and uvicorn's versions of it.

    python bench/deliver_cost.py
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("WS_JWT_SECRET", secrets.token_urlsafe(48))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from realtime.consumer import RealtimeConsumer  # noqa: E402
from realtime.servers import daphne_flow  # noqa: E402


class TcpTransport:  # the attributes twisted.internet.tcp.Server has
    dataBuffer, offset, _tempDataLen = b"", 0, 0


class DaphneProtocol:
    transport = TcpTransport()


class AsyncioTransport:
    def get_write_buffer_size(self) -> int:
        return 0


async def per_deliver(flow: dict | None, rounds: int = 200_000) -> float:
    consumer = RealtimeConsumer()

    async def send(message: dict) -> None:
        pass

    consumer.base_send = send
    if flow is not None:
        consumer._buffered, consumer._abort = flow["buffered"], flow["abort"]
        consumer.max_outbound = 1 << 20
    text = '{"event":"tick","data":{"n":1}}'
    started = time.perf_counter()
    for _ in range(rounds):
        await consumer.deliver(text)
    return (time.perf_counter() - started) / rounds * 1e9


async def best_of(flow: dict | None, repeats: int = 7) -> float:
    return min([await per_deliver(flow) for _ in range(repeats)])


async def main() -> None:
    base = await best_of(None)
    daphne = await best_of(daphne_flow(DaphneProtocol()))
    uvicorn = await best_of({"buffered": AsyncioTransport().get_write_buffer_size, "abort": None})
    print(f"deliver() per socket: no flow check {base:.0f} ns, daphne flow {daphne:.0f} ns "
          f"(+{daphne - base:.0f}), uvicorn flow {uvicorn:.0f} ns (+{uvicorn - base:.0f})")
    print(f"  i.e. for 10,000 sockets: {base * 1e4 / 1e6:.1f} ms -> {daphne * 1e4 / 1e6:.1f} ms (daphne), "
          f"{uvicorn * 1e4 / 1e6:.1f} ms (uvicorn) per broadcast, before the servers' own write")


asyncio.run(main())
