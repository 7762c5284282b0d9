"""What realtime offers other apps: client_disconnected, ordered events, Hub.is_connected."""

from __future__ import annotations

import asyncio

import pytest

from realtime.hub import get_hub
from realtime.registry import EventSpec, Reply, registry
from realtime.signals import client_disconnected
from tests.helpers import Client, amake_user, authed_client, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard():
    calls: list[dict] = []

    async def receiver(sender, **kwargs):  # noqa: ANN001, ANN202
        kwargs.pop("signal")
        calls.append(kwargs)

    client_disconnected.connect(receiver, dispatch_uid="test-heard")
    yield calls
    client_disconnected.disconnect(dispatch_uid="test-heard")


async def test_client_disconnected_names_the_client_that_left(heard, db):
    await amake_user("viewer", ["players.view"])
    client = await authed_client(spec_token("viewer", ["players.view"]))
    client_id = client.client_id
    assert await get_hub().is_connected(client_id)
    await client.close()
    assert [call for call in heard if call["client_id"] == client_id] == [
        {"client_id": client_id, "username": "viewer", "user_id": heard[0]["user_id"],
         "permissions": frozenset({"players.view"})}
    ]
    assert not await get_hub().is_connected(client_id)


async def test_a_socket_that_never_authenticated_is_not_announced(heard):
    client = Client()
    await client.open()
    await client.close()
    assert heard == []


async def test_a_failing_receiver_does_not_stop_the_others(heard, db):
    async def broken(sender, **kwargs):  # noqa: ANN001, ANN202
        raise RuntimeError("boom")

    client_disconnected.connect(broken, dispatch_uid="test-broken")
    try:
        await amake_user("viewer", ["players.view"])
        client = await authed_client(spec_token("viewer", ["players.view"]))
        await client.close()
    finally:
        client_disconnected.disconnect(dispatch_uid="test-broken")
    assert len(heard) == 1


@pytest.fixture
def slow_events():
    """Two test events that finish in reverse order unless run one by one."""
    order: list[str] = []

    def make(name: str, ordered: bool) -> EventSpec:
        async def handler(request):  # noqa: ANN001, ANN202
            await asyncio.sleep(0.05 if request.data["n"] == 0 else 0)
            order.append(f"{name}{request.data['n']}")
            return Reply("done", request.data["n"])

        return EventSpec(name=name, handler=handler, ordered=ordered)

    specs = [make("testOrdered", True), make("testUnordered", False)]
    for spec in specs:
        registry.register(spec)
    yield order
    for spec in specs:
        registry._events.pop(spec.name)


async def test_ordered_events_run_in_arrival_order_and_others_do_not_wait(slow_events, db):
    await amake_user("viewer", ["players.view"])
    client = await authed_client(spec_token("viewer", ["players.view"]))
    for n in (0, 1):
        await client.send({"event": "testOrdered", "data": {"n": n}, "requestId": f"o{n}"})
    for n in (0, 1):
        await client.send({"event": "testUnordered", "data": {"n": n}, "requestId": f"u{n}"})
    replies = [await client.recv() for _ in range(4)]
    assert {r["requestId"] for r in replies} == {"o0", "o1", "u0", "u1"}
    assert slow_events.index("testOrdered0") < slow_events.index("testOrdered1")
    assert slow_events.index("testUnordered1") < slow_events.index("testUnordered0")
    await client.close()
