"""The spec's export examples, verbatim, run as another resource's script in the resource's
test harness, and return what the spec says: generateToken a string, sendToClient a
boolean, getConnectedClients a string array, broadcast fire-and-forget."""

from __future__ import annotations

import json

import jwt
import pytest
import websockets

from tests.fivem.conftest import FAST, MINT
from tests.fivem.resource import ACCOUNTS, Admin
from tests.helpers import spec_token

pytestmark = pytest.mark.live

# spec/websocket-resource.md, "Token Generation", as written there (TypeScript that is
# also JavaScript).
GENERATE_TOKEN = '''
// In a server resource
const token = exports["[websocket]"].generateToken(
  "admin-user-id",           // Subject (user identifier)
  ["admin", "players.view"], // Permissions
  "24h"                      // Expiration
);
'''

# spec/websocket-resource.md, "Exports" / "broadcast", "Example:".
BROADCAST = '''
// Broadcast custom event
exports["[websocket]"].broadcast("customEvent", {
  message: "Something happened!",
  timestamp: Date.now()
});
'''

# The spec gives only the signatures of these two:
#   exports["[websocket]"].getConnectedClients(): string[]
#   exports["[websocket]"].sendToClient(clientId: string, event: string, data: unknown): boolean
GET_CONNECTED_CLIENTS = 'const clients = exports["[websocket]"].getConnectedClients();'
SEND_TO_CLIENT = 'const sent = exports["[websocket]"].sendToClient(clients[0], "customEvent", { hello: true });'


@pytest.fixture
def spec_platform(platform):
    # The spec's example subject, a plain (non-staff) user; the owner lets the game server
    # mint for it, players.view, for as long as the example asks (24h).
    token = platform.shell(ACCOUNTS + 'make_user("admin-user-id", ["players.view"])\n' + MINT).strip().splitlines()[-1]
    platform.env.update(WS_BRIDGE_MINT_SUBJECTS="admin-user-id", WS_BRIDGE_MINT_PERMISSIONS="players.view",
                        WS_BRIDGE_MINT_MAX_LIFETIME="24h")
    server = platform.start()
    return server, {"ws_platform_url": server.url, "ws_platform_token": token, "ws_export_generate_token": "true",
                    **FAST}


async def test_the_spec_examples_return_what_the_spec_says(spec_platform, resources):
    server, convars = spec_platform
    admin = await Admin.open(server.url, spec_token("admin", ["admin"]))
    try:
        resource = await resources(convars)
        await resource.wait_online()
        await resource.wait_console("signing key received")

        # generateToken(...): string, now.
        result = await resource.run_script(GENERATE_TOKEN, "token")
        assert result == {**result, "ok": True, "promise": False, "kind": "string"}, result
        token = result["value"]
        # The spec's JWT payload: sub, permissions, iat, exp (24h). "admin" is never minted
        # by a game server: left out, and the console says so.
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["sub"] == "admin-user-id" and claims["permissions"] == ["players.view"]
        assert claims["exp"] - claims["iat"] == 24 * 3600
        await resource.wait_console("admin left out of the token for admin-user-id")
        async with websockets.connect(server.url) as ws:
            await ws.recv()
            await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
            reply = json.loads(await ws.recv())
        assert reply["event"] == "authenticated" and reply["data"]["permissions"] == ["players.view"], reply

        # getConnectedClients(): string[], now; sendToClient(...): boolean, now.
        clients = await resource.run_script(GET_CONNECTED_CLIENTS, "clients")
        assert clients == {**clients, "ok": True, "promise": False, "kind": "array"}
        assert admin.client_id in clients["value"] and all(isinstance(c, str) for c in clients["value"])
        order = GET_CONNECTED_CLIENTS.replace("clients =", "all =") + "\nconst clients = [" + json.dumps(
            admin.client_id) + "];\n" + SEND_TO_CLIENT
        sent = await resource.run_script(order, "sent")
        assert sent == {**sent, "ok": True, "promise": False, "kind": "boolean", "value": True}
        assert (await admin.expect("customEvent"))["data"] == {"hello": True}

        # broadcast(...): fire-and-forget; every authenticated client gets {event, data}.
        done = await resource.run_script(BROADCAST, "undefined")
        assert done["ok"], done
        frame = await admin.expect("customEvent")
        assert frame["data"]["message"] == "Something happened!" and isinstance(frame["data"]["timestamp"], int)
    finally:
        await admin.close()
