"""The FiveM resource's connection and exports, under Node, against a real platform process."""

from __future__ import annotations

import json

import pytest
import websockets

from tests.fivem.conftest import FAST
from tests.helpers import spec_part, spec_token

pytestmark = pytest.mark.live


async def test_missing_or_wrong_convars_are_explained_and_exports_say_so(resources):
    resource = await resources({"ws_platform_url": "http://example.invalid", "ws_platform_timeout": "soon"})
    texts = [r["text"] for r in resource.records if r["type"] == "console"]
    assert any("ws_platform_url \"http://example.invalid\" is not a WebSocket URL" in t for t in texts), texts
    assert any("ws_platform_token is not set" in t and "manage.py ws_token" in t for t in texts), texts
    assert any("ws_platform_timeout \"soon\" must be a number of seconds" in t for t in texts), texts
    assert any("bridge is NOT running" in t for t in texts), texts

    result = await resource.call_export("broadcast", "x", {})
    assert result["ok"] is False and result["code"] == "not_configured"
    # generateToken is opt-in (ws_export_generate_token): off, it says so before anything.
    result = await resource.call_export("generateToken", "viewer", ["players.view"], "1h")
    assert result["ok"] is False and result["code"] == "export_disabled"
    await resource.wait_console("generateToken refused: the generateToken export is off")

    garbled = await resources({"ws_platform_token": "not a token"})
    await garbled.wait_console("ws_platform_token does not look like a token")
    await garbled.wait_console("ws_platform_url is not set; using ws://127.0.0.1:3001")


async def test_exports_are_forwarded_to_the_platform(live, resources, admins):
    admin = await admins(live.server.url)
    resource = await resources(live.convars(ws_export_generate_token="true"))
    bridge_id = (await resource.wait_event("websocket:connected"))["args"][0]

    # generateToken mints within the subject's grants; the token works on the socket.
    minted = await resource.call_export("generateToken", "viewer", ["players.view"], "1h")
    assert minted["ok"], minted
    async with websockets.connect(live.server.url) as ws:
        await ws.recv()
        await ws.send(json.dumps({"event": "auth", "data": {"token": minted["value"]}}))
        reply = json.loads(await ws.recv())
        assert reply["event"] == "authenticated" and reply["data"]["permissions"] == ["players.view"]

    refused = await resource.call_export("generateToken", "viewer", ["players.kick"], "1h")
    assert refused["ok"] is False and refused["code"] == "invalid_payload"
    assert "does not hold: players.kick" in refused["error"]
    await resource.wait_console("generateToken failed")
    # Past the owner's allow-list (here: viewer, players.view/kick, 1h): refused with why.
    longer = await resource.call_export("generateToken", "viewer", ["players.view"], "2h")
    assert longer["ok"] is False and longer["code"] == "permission_denied"
    admin_token = await resource.call_export("generateToken", "admin", ["admin"], "365d")
    assert admin_token["ok"] is False and "may not mint tokens for 'admin'" in admin_token["error"], admin_token

    # A Lua caller's empty table arrives as {}; expiresIn may be left out.
    empty = await resource.call_export("generateToken", "viewer", {})
    assert empty["ok"], empty

    assert (await resource.call_export("broadcast", "customEvent", {"n": 1}))["ok"]
    assert spec_part(await admin.expect("customEvent")) == {"event": "customEvent", "data": {"n": 1}}

    sent = await resource.call_export("sendToClient", admin.client_id, "direct", {"x": 1})
    assert sent == {**sent, "ok": True, "value": True}
    assert await admin.expect("direct") == {"event": "direct", "data": {"x": 1}}
    missing = await resource.call_export("sendToClient", "no-such-client", "direct", {})
    assert missing["ok"] and missing["value"] is False

    clients = await resource.call_export("getConnectedClients")
    assert {admin.client_id, bridge_id} <= set(clients["value"])

    # The resource's own name answers as well as the spec's "[websocket]".
    own = await resource.call_export("getConnectedClients", resource="websocket")
    assert set(own["value"]) == set(clients["value"])
    connected = await resource.call_export("isConnected")
    assert connected["value"] is True


async def test_callback_form_of_the_exports(live, resources):
    resource = await resources(live.convars(ws_export_generate_token="true"))
    await resource.wait_event("websocket:connected")
    mark = len(resource.records)
    await resource.send({"cmd": "export", "id": 99, "resource": "[websocket]", "name": "getConnectedClients",
                         "args": [], "callback": True})
    answer = await resource.wait_for(lambda r: r["type"] == "exportCallback" and r["id"] == 99, after=mark)
    assert answer["err"] is None and isinstance(answer["value"], list)
    await resource.send({"cmd": "export", "id": 100, "resource": "[websocket]", "name": "generateToken",
                         "args": ["nobody", ["admin"]], "callback": True})
    answer = await resource.wait_for(lambda r: r["type"] == "exportCallback" and r["id"] == 100, after=mark)
    assert answer["value"] is None and "no active user named 'nobody'" in answer["err"]


async def test_a_refused_token_is_explained_and_retried_slowly(live, resources):
    forged = spec_token("gameserver", ["gameserver"], secret="x" * 48)
    resource = await resources(live.convars(ws_platform_token=forged))
    await resource.wait_console("the platform refused ws_platform_token")
    await resource.wait_console("4001 the platform refused the token")

    no_grant = live.platform.manage("ws_token", "viewer", "--permissions", "players.view").stdout.strip()
    resource = await resources(live.convars(ws_platform_token=no_grant))
    await resource.wait_console("its user lacks the gameserver grant")
    result = await resource.call_export("getConnectedClients", timeout=15)
    assert result["ok"] is False and result["code"] == "platform_offline"


async def test_exports_wait_for_the_connection_then_fail_clearly(resources):
    # Nothing listens on this port: requests wait for the connection, then give up.
    from tests.live import free_port

    resource = await resources({"ws_platform_url": f"ws://127.0.0.1:{free_port()}",
                                "ws_platform_token": spec_token("gameserver", ["gameserver"]),
                                **FAST, "ws_platform_timeout": "1"})
    await resource.wait_console("cannot reach the platform")
    result = await resource.call_export("broadcast", "x", {})
    assert result["ok"] is False and result["code"] == "platform_offline"
    assert "not connected to the platform within 1s" in result["error"]


async def test_an_expiring_bridge_token_is_announced_in_the_console(live, resources):
    # The platform warns WS_TOKEN_EXPIRY_WARNING (60) seconds before exp: here after 5 s.
    short = live.platform.manage("ws_token", "gameserver", "--permissions", "gameserver",
                                 "--expires", "65s").stdout.strip()
    resource = await resources(live.convars(ws_platform_token=short))
    await resource.wait_console("ws_platform_token expires in 0h: mint a new one soon")
    await resource.wait_for(lambda r: r["type"] == "console" and "s: mint a new one" in r["text"]
                            and "manage.py ws_token" in r["text"], timeout=20, what="tokenExpiring warning")
