"""Live scenarios shared by the security tests (plain and TLS)."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets

import pytest

from tests.helpers import spec_token
from tests.security.rawws import RawSocket
from tests.security.wsclient import LiveClient, authed


def viewer_token() -> str:
    return spec_token("viewer", ["stats.view"])


def bridge_token() -> str:
    return spec_token("bridge", ["gameserver"])


async def stalled_reader_scenario(proc, url: str, ssl_context=None) -> None:  # noqa: ANN001
    """A raw client stops reading; broadcasts flow until it is cut off; the readers get all."""
    bridge = await authed(url, bridge_token(), ssl_context=ssl_context)
    readers = [await authed(url, viewer_token(), ssl_context=ssl_context) for _ in range(3)]
    stalled = RawSocket(proc.port, rcvbuf=4096, ssl_context=ssl_context)
    assert stalled.status == 101
    stalled_id = stalled.recv_json()["data"]["clientId"]
    stalled.send_json({"event": "auth", "data": {"token": viewer_token()}, "requestId": "a"})
    assert stalled.recv_json()["event"] == "authenticated"
    # From here on the stalled client reads nothing.

    counts = [0] * len(readers)

    async def read(index: int, reader: LiveClient) -> None:
        async for text in reader.ws:
            if json.loads(text)["event"] == "tick":
                counts[index] += 1

    reading = [asyncio.create_task(read(i, r)) for i, r in enumerate(readers)]
    payload = secrets.token_urlsafe(24_000)  # 32 kB that no compression would shrink
    requests = itertools.count()

    async def connected() -> list[str]:
        reply = await bridge.request("getConnectedClients", request_id=f"c{next(requests)}")
        assert reply["event"] == "clients", reply
        return reply["data"]["clients"]

    def cut_off() -> bool:
        log = proc.log()
        return f"socket {stalled_id}" in log and "stopped reading" in log

    sent = 0
    for _ in range(100):  # at most 100 x 20 x 32 kB = 64 MB
        for _ in range(20):
            await bridge.send({"event": "broadcast", "data": {"event": "tick", "data": payload}})
            sent += 1
        await connected()  # every broadcast so far has been handed to the hub
        if cut_off():
            break
    else:
        pytest.fail("the stalled client was never cut off")
    # It leaves the connected list once its close is taken or the grace period (1 s) ends.
    async with asyncio.timeout(15):
        while stalled_id in await connected():
            await asyncio.sleep(0.05)
    # Every broadcast reached every reading client.
    await wait_until(lambda: counts == [sent] * len(readers), timeout=20)
    assert stalled.drain_until_closed(timeout=10) in {"reset", "eof", "close 4008"}
    for task in reading:
        task.cancel()


async def wait_until(condition, timeout: float) -> None:
    """Wait for a condition that other tasks make true (checked every 10 ms)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
