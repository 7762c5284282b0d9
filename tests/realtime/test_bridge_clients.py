"""The connected-client list kept live in the game server's bridge (``connectedClients``):
the FiveM resource's synchronous getConnectedClients/sendToClient answer from it."""

from __future__ import annotations

import pytest

from tests.helpers import Client, authed_client, make_user, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def accounts(db):
    make_user("gameserver", ["gameserver"])
    make_user("viewer", ["players.view"])


async def test_a_bridge_gets_the_list_after_authenticated_and_every_change(accounts):
    viewer = await authed_client(spec_token("viewer", ["players.view"]))
    bridge = Client()
    await bridge.open()
    reply = await bridge.auth(spec_token("gameserver", ["gameserver"]))
    assert reply["event"] == "authenticated"
    # Nothing until the bridge subscribes (as the FiveM resource does after every auth).
    assert await bridge.nothing(0.2)
    synced = await bridge.request("bridgeSync", request_id="s")
    assert synced["event"] == "bridgeSynced" and synced["requestId"] == "s"
    assert synced["data"]["signingKey"]["server"] == "gameserver"  # test_bridge_keys.py
    # Right after the reply, before anything else: the list as of now, itself included.
    first = await bridge.recv()
    assert first == {"event": "connectedClients", "data": {"clients": sorted([viewer.client_id, bridge.client_id])}}

    # An unauthenticated socket is nobody's client yet: no push for it.
    stranger = Client()
    await stranger.open()
    assert await bridge.nothing(0.2)
    await stranger.auth(spec_token("viewer", ["players.view"]))
    pushed = await bridge.recv()
    assert pushed["event"] == "connectedClients"
    assert pushed["data"]["clients"] == sorted([viewer.client_id, bridge.client_id, stranger.client_id])

    await viewer.close()
    pushed = await bridge.recv()
    assert pushed["data"]["clients"] == sorted([bridge.client_id, stranger.client_id])
    # The list goes to bridges only, never to the other clients.
    assert await stranger.nothing(0.2)
    # A re-auth (a renewed token) changes no one's presence: nothing is pushed, and the
    # subscription stays.
    reply = await bridge.auth(spec_token("gameserver", ["gameserver"]))
    assert reply["event"] == "authenticated"
    assert await bridge.nothing(0.2)
    late = await authed_client(spec_token("viewer", ["players.view"]))
    pushed = await bridge.recv()
    assert pushed["data"]["clients"] == sorted([bridge.client_id, stranger.client_id, late.client_id])
    await late.close()
    assert (await bridge.recv())["data"]["clients"] == sorted([bridge.client_id, stranger.client_id])
    await stranger.close()
    await bridge.close()


async def test_a_burst_of_connections_ends_with_the_full_list(accounts, settings):
    settings.WS_CLIENT_LIST_PUSH_INTERVAL = 0.05
    bridge = await authed_client(spec_token("gameserver", ["gameserver"]))
    assert (await bridge.request("bridgeSync"))["event"] == "bridgeSynced"
    assert (await bridge.recv())["event"] == "connectedClients"
    clients = [await authed_client(spec_token("viewer", ["players.view"])) for _ in range(20)]
    expected = sorted([bridge.client_id, *(c.client_id for c in clients)])
    # Coalesced (fewer pushes than connections is allowed), but the last one is complete.
    pushes = 0
    while True:
        frame = await bridge.recv()
        assert frame["event"] == "connectedClients"
        pushes += 1
        if frame["data"]["clients"] == expected:
            break
    assert pushes <= 20
    assert await bridge.nothing(0.2)
    for client in clients:
        await client.close()
    await bridge.close()
