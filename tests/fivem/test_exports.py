"""The FiveM resource's connection and exports, under Node, against a real platform process."""

from __future__ import annotations

import json
import time

import jwt
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

    # generateTokenAsync: the platform mints, within the subject's grants; the token works.
    minted = await resource.call_export("generateTokenAsync", "viewer", ["players.view"], "1h")
    assert minted["ok"], minted
    async with websockets.connect(live.server.url) as ws:
        await ws.recv()
        await ws.send(json.dumps({"event": "auth", "data": {"token": minted["value"]}}))
        reply = json.loads(await ws.recv())
        assert reply["event"] == "authenticated" and reply["data"]["permissions"] == ["players.view"]

    refused = await resource.call_export("generateTokenAsync", "viewer", ["players.kick"], "1h")
    assert refused["ok"] is False and refused["code"] == "invalid_payload"
    assert "does not hold: players.kick" in refused["error"]
    await resource.wait_console("generateToken failed")
    # Past the owner's allow-list (here: viewer, players.view/kick, 1h): refused with why.
    longer = await resource.call_export("generateTokenAsync", "viewer", ["players.view"], "2h")
    assert longer["ok"] is False and longer["code"] == "permission_denied"
    admin_token = await resource.call_export("generateTokenAsync", "admin", ["admin"], "365d")
    assert admin_token["ok"] is False and "may not mint tokens for 'admin'" in admin_token["error"], admin_token

    # A Lua caller's empty table arrives as {}; expiresIn may be left out.
    empty = await resource.call_export("generateTokenAsync", "viewer", {})
    assert empty["ok"], empty

    assert (await resource.call_export("broadcast", "customEvent", {"n": 1}))["ok"]
    assert spec_part(await admin.expect("customEvent")) == {"event": "customEvent", "data": {"n": 1}}

    # The spec's forms answer synchronously (from the list the platform keeps live in the
    # resource); the message itself follows.
    sent = await resource.call_export("sendToClient", admin.client_id, "direct", {"x": 1})
    assert sent == {**sent, "ok": True, "promise": False, "value": True}
    assert await admin.expect("direct") == {"event": "direct", "data": {"x": 1}}
    missing = await resource.call_export("sendToClient", "no-such-client", "direct", {})
    assert missing == {**missing, "ok": True, "promise": False, "value": False}
    # A reserved event name: true (the client is there), and the platform's refusal is
    # printed in the console, as for any fire-and-forget call.
    reserved = await resource.call_export("sendToClient", admin.client_id, "authenticated", {})
    assert reserved["value"] is True
    await resource.wait_console("sendToClient failed")

    # The Promise forms ask the platform itself; the copy follows it within the staleness
    # bound (the viewer's socket above has just closed).
    asked = await resource.call_export("getConnectedClientsAsync")
    assert asked["promise"] is True and {admin.client_id, bridge_id} == set(asked["value"])
    clients = {"value": await wait_clients(resource, lambda ids: set(ids) == set(asked["value"]))}
    delivered = await resource.call_export("sendToClientAsync", admin.client_id, "direct", {"x": 2})
    assert delivered == {**delivered, "ok": True, "promise": True, "value": True}
    assert await admin.expect("direct") == {"event": "direct", "data": {"x": 2}}

    # A client that leaves is gone from the copy once the platform's push arrives.
    other = await admins(live.server.url)
    await wait_clients(resource, lambda ids: other.client_id in ids)
    await other.close()
    await wait_clients(resource, lambda ids: other.client_id not in ids)

    # The resource's own name answers as well as the spec's "[websocket]".
    own = await resource.call_export("getConnectedClients", resource="websocket")
    assert set(own["value"]) == set(clients["value"])
    connected = await resource.call_export("isConnected")
    assert connected["value"] is True


async def wait_clients(resource, predicate, timeout: float = 5) -> list[str]:
    """Call getConnectedClients (synchronous) until its answer satisfies ``predicate``: the
    platform's push crosses a socket, so a test waits for it (bounded), never sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        mark = len(resource.records)
        result = await resource.call_export("getConnectedClients")
        assert result["promise"] is False
        if predicate(result["value"]):
            return result["value"]
        assert time.monotonic() < deadline, f"the list never matched: {result['value']}"
        # Wait for the next list the platform pushes (or one that came meanwhile).
        await resource.wait_for(lambda r: r["type"] == "received" and r["event"] == "connectedClients",
                                after=mark, timeout=max(deadline - time.monotonic(), 0.1), what="a pushed list")


async def test_callback_form_of_the_exports(live, resources):
    resource = await resources(live.convars(ws_export_generate_token="true"))
    await resource.wait_event("websocket:connected")
    mark = len(resource.records)
    await resource.send({"cmd": "export", "id": 99, "resource": "[websocket]", "name": "getConnectedClients",
                         "args": [], "callback": True})
    answer = await resource.wait_for(lambda r: r["type"] == "exportCallback" and r["id"] == 99, after=mark)
    assert answer["err"] is None and isinstance(answer["value"], list)
    await resource.send({"cmd": "export", "id": 100, "resource": "[websocket]", "name": "generateTokenAsync",
                         "args": ["nobody", ["admin"]], "callback": True})
    answer = await resource.wait_for(lambda r: r["type"] == "exportCallback" and r["id"] == 100, after=mark)
    assert answer["value"] is None and "no active user named 'nobody'" in answer["err"]
    # The synchronous form calls back too, with what it returns or why it refused.
    await resource.wait_console("signing key received")
    await resource.send({"cmd": "export", "id": 101, "resource": "[websocket]", "name": "generateToken",
                         "args": ["nobody", ["players.view"]], "callback": True})
    answer = await resource.wait_for(lambda r: r["type"] == "exportCallback" and r["id"] == 101, after=mark)
    assert answer["value"] is None and "may not mint tokens for 'nobody'" in answer["err"]
    await resource.send({"cmd": "export", "id": 102, "resource": "[websocket]", "name": "generateToken",
                         "args": ["viewer", ["players.view"], "15m"], "callback": True})
    answer = await resource.wait_for(lambda r: r["type"] == "exportCallback" and r["id"] == 102, after=mark)
    assert answer["err"] is None and answer["value"].count(".") == 2


async def test_a_refused_token_is_explained_and_retried_slowly(live, resources):
    forged = spec_token("gameserver", ["gameserver"], secret="x" * 48)
    resource = await resources(live.convars(ws_platform_token=forged))
    await resource.wait_console("the platform refused ws_platform_token")
    await resource.wait_console("4001 the platform refused the token")

    no_grant = live.platform.manage("ws_token", "viewer", "--permissions", "players.view").stdout.strip()
    resource = await resources(live.convars(ws_platform_token=no_grant))
    await resource.wait_console("its user lacks the gameserver grant")
    result = await resource.call_export("getConnectedClientsAsync", timeout=15)
    assert result["ok"] is False and result["code"] == "platform_offline"
    result = await resource.call_export("getConnectedClients")
    assert result == {**result, "ok": True, "promise": False, "value": []}


async def test_exports_wait_for_the_connection_then_fail_clearly(resources):
    # Nothing listens on this port: requests wait for the connection, then give up.
    from tests.live import free_port

    resource = await resources({"ws_platform_url": f"ws://127.0.0.1:{free_port()}",
                                "ws_platform_token": spec_token("gameserver", ["gameserver"]),
                                **FAST, "ws_platform_timeout": "1", "ws_export_generate_token": "true"})
    await resource.wait_console("cannot reach the platform")
    result = await resource.call_export("broadcast", "x", {})
    assert result["ok"] is False and result["code"] == "platform_offline"
    assert "not connected to the platform within 1s" in result["error"]
    # No signing key has arrived: generateToken says so and returns its Promise form.
    result = await resource.call_export("generateToken", "viewer", ["players.view"], "1h")
    assert result == {**result, "ok": False, "promise": True, "code": "platform_offline"}
    await resource.wait_console("signing key has not arrived from the platform yet")


async def test_generate_token_signs_synchronously_with_this_servers_key(live, resources):
    resource = await resources(live.convars(ws_export_generate_token="true"))
    await resource.wait_console("signing key received")
    result = await resource.call_export("generateToken", "viewer", ["players.view"], "1h")
    assert result == {**result, "ok": True, "promise": False}
    token = result["value"]
    assert not [r for r in resource.records if r["type"] == "sent" and r["event"] == "generateToken"], \
        "signed in the resource, not asked of the platform"
    assert jwt.get_unverified_header(token)["kid"].startswith("bk-")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["server"] == "gameserver" and claims["permissions"] == ["players.view"]
    assert claims["exp"] - claims["iat"] == 3600
    assert await socket_permissions(live, token) == ["players.view"]

    # Outside the owner's allow-list (viewer; players.view/kick; 1h): refused at once.
    for args, why in [(("admin", ["players.view"], "1h"), "may not mint tokens for 'admin'"),
                      (("viewer", ["players.view"], "2h"), "longer than the game server may mint"),
                      (("viewer", ["admin"], "1h"), "may not mint admin")]:
        refused = await resource.call_export("generateToken", *args)
        assert refused == {**refused, "ok": False, "promise": False, "code": "permission_denied"}, refused
        assert why in refused["error"]
    # A permission outside the list beside allowed ones is left out, and the console says so.
    narrowed = await resource.call_export("generateToken", "viewer", ["admin", "players.view"])
    assert jwt.decode(narrowed["value"], options={"verify_signature": False})["permissions"] == ["players.view"]
    await resource.wait_console("admin left out of the token for viewer")
    # Within the list but not held by the subject: signed, and refused by the platform.
    unheld = await resource.call_export("generateToken", "viewer", ["players.kick"], "1h")
    assert unheld["ok"] and await socket_permissions(live, unheld["value"]) is None


async def socket_permissions(live, token: str) -> list[str] | None:
    """The permissions a token authenticates with on the platform, or None if refused."""
    async with websockets.connect(live.server.url) as ws:
        await ws.recv()
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        reply = json.loads(await ws.recv())
    return reply["data"]["permissions"] if reply["event"] == "authenticated" else None


async def test_the_bridge_renews_its_token_before_it_expires(live, resources):
    # A 20 s token: inside the platform's warning window (60 s) from the start, so the
    # platform says tokenExpiring at once after every auth and the resource renews it.
    short = live.platform.manage("ws_token", "gameserver", "--permissions", "gameserver",
                                 "--expires", "20s").stdout.strip()
    resource = await resources(live.convars(ws_platform_token=short))
    await resource.wait_console("ws_platform_token expires in 0h: this resource renews its token while connected")
    first_id = (await resource.wait_event("websocket:connected"))["args"][0]
    await resource.wait_console("renewed the bridge token")
    # Past the first token's exp (20 s) the same socket is still there: renewed again and
    # again (at most every 5 s), re-authenticated in place, never closed for expiry.
    first = next(r for r in resource.records if r["type"] == "console" and "renewed the bridge token" in r["text"])
    await resource.wait_for(lambda r: r["_at"] > first["_at"] + 24, timeout=40, what="a record past the first exp")
    renewals = [r for r in resource.records if r["type"] == "console" and "renewed the bridge token" in r["text"]]
    assert len(renewals) >= 4, resource.dump()
    texts = [r["text"] for r in resource.records if r["type"] == "console"]
    assert not [t for t in texts if "disconnected" in t or "expired" in t or "could not renew" in t], texts
    assert len([r for r in resource.records if r["type"] == "event" and r["name"] == "websocket:connected"]) == 1
    clients = await resource.call_export("getConnectedClientsAsync")
    assert clients["ok"] and first_id in clients["value"], clients
    # Each renewal is a registered token of the bridge's own account.
    rows = live.platform.shell(
        "from accounts.models import IssuedToken\n"
        "print(IssuedToken.objects.filter(user__username='gameserver', label=\"renewed by the game server's bridge\").count())"
    ).strip().splitlines()[-1]
    assert int(rows) >= 4
