"""Slowloris on HTTP (#5): connections that never finish their headers are closed after
WS_HEADER_TIMEOUT, connections per address are capped, and a normal client still gets in.
Real server processes (`manage.py serve`, uvicorn), real TCP connections."""

from __future__ import annotations

import asyncio
import time

import pytest

ATTACKERS = 220


async def open_from(port: int, source: str = "127.0.0.1"):  # noqa: ANN201
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_by_server(reader, writer, trickle: bool, within: float) -> float | None:  # noqa: ANN001
    """Seconds until the server closed the connection (None: still open after ``within``);
    a trickling client sends one header byte every 0.2 s meanwhile."""
    start = time.monotonic()
    if trickle:
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    deadline = start + within
    try:
        while time.monotonic() < deadline:
            try:
                data = await asyncio.wait_for(reader.read(1024), 0.2)
            except asyncio.TimeoutError:
                if trickle:
                    writer.write(b"a")
                    await writer.drain()
                continue
            if data == b"":
                return time.monotonic() - start
    except (ConnectionError, OSError):
        return time.monotonic() - start
    finally:
        writer.close()
    return None


async def get_status(port: int, source: str = "127.0.0.1") -> int:
    reader, writer = await open_from(port, source)
    try:
        writer.write(b"GET /login/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        return int(line.split()[1])
    finally:
        writer.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
def test_trickling_and_silent_connections_are_closed_after_the_header_timeout(platform, kind):
    server = platform.start(kind, WS_HEADER_TIMEOUT="2", WS_MAX_CONNECTIONS_PER_ADDRESS="500")

    async def attack() -> None:
        connections = [await open_from(server.port) for _ in range(ATTACKERS)]
        waits = [
            asyncio.create_task(closed_by_server(r, w, trickle=i % 2 == 0, within=15))
            for i, (r, w) in enumerate(connections)
        ]
        await asyncio.sleep(0)  # the attack is under way: a normal client still gets in
        assert await get_status(server.port) == 200
        closed = await asyncio.gather(*waits)
        still_open = [i for i, after in enumerate(closed) if after is None]
        assert still_open == [], f"{len(still_open)} of {ATTACKERS} connections outlived the bound"
        assert max(closed) < 2 + 5  # the bound plus scheduling slack on a busy machine
        assert await get_status(server.port) == 200

    asyncio.run(attack())


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
def test_connections_per_address_are_capped_and_other_addresses_get_in(platform, kind):
    server = platform.start(kind, WS_HEADER_TIMEOUT="60", WS_MAX_CONNECTIONS_PER_ADDRESS="20")

    async def attack() -> None:
        refused, connections = 0, []
        for _ in range(40):
            try:
                connections.append(await open_from(server.port))
            except ConnectionResetError:  # cut off so fast that connect() itself saw the reset
                refused += 1
        closed = await asyncio.gather(
            *(closed_by_server(r, w, trickle=False, within=3) for r, w in connections)
        )
        # Those over the cap are cut off (== 20 when the machine is calm; under heavy load
        # daphne was once seen dropping one more, so: at most the cap stays open).
        assert refused + sum(after is not None for after in closed) >= 20
        # Meanwhile another address is not held up by this one's connections.
        assert await get_status(server.port, source="127.0.0.2") == 200

    asyncio.run(attack())


def test_a_trusted_proxy_is_not_capped(settings):
    from realtime.servers import PeerBook

    settings.WS_TRUST_PROXY_HEADERS, settings.WS_TRUSTED_PROXIES = True, ["10.0.0.5"]
    book = PeerBook(2)
    assert all(book.admit("10.0.0.5", object()) for _ in range(10))
    held = [object(), object()]
    assert all(book.admit("10.0.0.6", c) for c in held) and not book.admit("10.0.0.6", object())
    book.release(held[0])
    assert book.admit("10.0.0.6", object())
