"""The spec's exports as a server API: POST /broadcast, POST /clients/{id}/send, GET
/clients, POST /tokens, with the permissions of the security model (gameserver)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.models import IssuedToken
from realtime.tokens import verify
from tests.api.support import call
from tests.game.support import game_client
from tests.helpers import make_user, spec_part, spec_token

pytestmark = pytest.mark.django_db(transaction=True)

VIEWER = ["players.view", "stats.view", "jobs.view", "bans.view"]


@pytest.fixture
def server_token(people):
    return spec_token("gameserver", ["gameserver"])


async def test_broadcast_reaches_every_socket(viewer, server_token):
    answer = await call("POST", "/api/v1/broadcast", server_token, {"event": "weather", "data": {"sky": "rain"}})
    assert answer.status == 200 and answer.json == {"event": "ack"}
    assert spec_part(await viewer.expect("weather")) == {"event": "weather", "data": {"sky": "rain"}}


async def test_broadcast_refuses_the_platforms_own_events(viewer, server_token):
    answer = await call("POST", "/api/v1/broadcast", server_token, {"event": "playerKicked", "data": {}})
    assert (answer.status, answer.code) == (422, "invalid_payload")
    assert "one of the platform's own events" in answer.json["data"]["message"]


async def test_exports_need_gameserver(viewer):
    boss = spec_token("boss", ["admin"])  # admin does not include gameserver
    for method, path, body in [("POST", "/api/v1/broadcast", {"event": "x"}), ("GET", "/api/v1/clients", None),
                               ("POST", f"/api/v1/clients/{viewer.client_id}/send", {"event": "x"}),
                               ("POST", "/api/v1/tokens", {"sub": "viewer", "permissions": []})]:
        answer = await call(method, path, spec_token("viewer", VIEWER), body)
        assert (answer.status, answer.code) == (403, "permission_denied"), path
        answer = await call(method, path, boss, body)
        assert answer.status == 403, path


async def test_send_to_one_client_and_list_clients(viewer, server_token):
    clients = await call("GET", "/api/v1/clients", server_token)
    assert clients.status == 200 and viewer.client_id in clients.json["data"]["clients"]
    sent = await call("POST", f"/api/v1/clients/{viewer.client_id}/send", server_token, {"event": "hello", "data": 1})
    assert sent.json == {"event": "sent", "data": {"delivered": True}}
    assert await viewer.expect("hello") == {"event": "hello", "data": 1}
    gone = await call("POST", "/api/v1/clients/not-a-client/send", server_token, {"event": "hello"})
    assert gone.json == {"event": "sent", "data": {"delivered": False}}


async def test_tokens_within_the_bridge_allow_list(people, server_token):
    await make_user_async("citizen", ["players.view"])
    refused = await call("POST", "/api/v1/tokens", server_token, {"sub": "citizen", "permissions": ["players.view"]})
    assert (refused.status, refused.code) == (403, "permission_denied")
    with override_settings(WS_BRIDGE_MINT_SUBJECTS=["citizen"], WS_BRIDGE_MINT_PERMISSIONS=["players.view"]):
        minted = await call("POST", "/api/v1/tokens", server_token,
                            {"sub": "citizen", "permissions": ["players.view"], "expiresIn": "10m"})
        assert minted.status == 200, minted.body
        payload = verify(minted.json["data"]["token"])
        assert (payload["sub"], payload["permissions"]) == ("citizen", ["players.view"])
        row = await IssuedToken.objects.select_related("issued_by").aget(jti=payload["jti"])
        assert row.issued_by.username == "gameserver"
        # ...and the minted token works on the HTTP API too.
        socket = await game_client(minted.json["data"]["token"])
        assert (await call("GET", "/api/v1/players", minted.json["data"]["token"])).status == 200
        await socket.close()
        bad = await call("POST", "/api/v1/tokens", server_token, {"sub": "citizen", "permissions": "players.view"})
        assert (bad.status, bad.code) == (422, "invalid_payload")


async def make_user_async(name, grants):
    from asgiref.sync import sync_to_async

    return await sync_to_async(make_user)(name, grants)
