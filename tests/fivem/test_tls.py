"""The resource's wss:// connection, against the platform serving TLS itself
(`manage.py serve` with WS_TLS_CERT / WS_TLS_KEY, as tests/security/test_tls.py does)."""

from __future__ import annotations

import ssl

import pytest

from tests.fivem.conftest import FAST, MINT
from tests.fivem.resource import ACCOUNTS, Admin
from tests.helpers import spec_token
from tests.security.test_tls import self_signed

pytestmark = pytest.mark.live


async def test_the_resource_speaks_wss_to_a_platform_serving_tls(platform, tmp_path, resources):
    token = platform.shell(ACCOUNTS + MINT).strip().splitlines()[-1]
    platform.env.update(WS_BRIDGE_MINT_SUBJECTS="viewer", WS_BRIDGE_MINT_PERMISSIONS="players.view")
    cert, key = self_signed(tmp_path)
    server = platform.start(WS_TLS_CERT=cert, WS_TLS_KEY=key)
    url = f"wss://127.0.0.1:{server.port}"
    convars = {"ws_platform_url": url, "ws_platform_token": token, "ws_export_generate_token": "true", **FAST}

    # Not trusting the certificate, the resource refuses the connection (and says why).
    untrusting = await resources(convars)
    await untrusting.wait_console("cannot reach the platform")
    assert not untrusting.natives("DropPlayer")
    assert not [r for r in untrusting.records if r["type"] == "event" and r["name"] == "websocket:connected"]
    await untrusting.stop()

    # Trusting it (as FXServer's Node does with NODE_EXTRA_CA_CERTS): the whole bridge works
    # over TLS, the signing key included (it travels only on this encrypted socket).
    resource = await resources(convars, env={"NODE_EXTRA_CA_CERTS": cert})
    await resource.wait_online()
    await resource.wait_console("signing key received")
    admin = await Admin.open(url, spec_token("admin", ["admin"]), ssl=ssl.create_default_context(cafile=cert))
    try:
        joined = await resource.connect_player(1, "Nova", ["license:aaa111", "discord:1"])
        assert joined["accepted"]
        assert (await admin.expect("playerJoined"))["data"]["name"] == "Nova"
        minted = await resource.call_export("generateToken", "viewer", ["players.view"], "10m")
        assert minted == {**minted, "ok": True, "promise": False}
        clients = await resource.call_export("getConnectedClientsAsync")
        assert admin.client_id in clients["value"]
    finally:
        await admin.close()
