"""Who can mint what: the game server's bridge, staff in Django admin (issue 13, #1 and #2)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from accounts.models import IssuedToken
from tests.helpers import Client, amake_user, authed_client, spec_token

pytestmark = pytest.mark.django_db(transaction=True)

ALLOWED = {"WS_BRIDGE_MINT_SUBJECTS": ["viewer"], "WS_BRIDGE_MINT_PERMISSIONS": ["players.view"]}


async def bridge_and_users() -> Client:
    await amake_user("admin", ["admin"], superuser=True)
    await amake_user("staffer", ["players.view"], is_staff=True)
    await amake_user("viewer", ["players.view", "stats.view"])
    await amake_user("bridge", ["gameserver"])
    return await authed_client(spec_token("bridge", ["gameserver"]))


async def mint(bridge: Client, sub: str, permissions: list[str], expires_in: str | None = None) -> dict:
    data: dict = {"sub": sub, "permissions": permissions}
    if expires_in is not None:
        data["expiresIn"] = expires_in
    return await bridge.request("generateToken", data, "m")


def refused(reply: dict, reason: str) -> bool:
    return (reply["event"], reply["data"]["code"]) == ("error", "permission_denied") and reason in reply[
        "data"]["message"]


async def test_the_bridge_mints_nothing_by_default():
    bridge = await bridge_and_users()
    # The exploit: an admin token for the superuser, for a year.
    reply = await mint(bridge, "admin", ["admin"], "365d")
    assert refused(reply, "staff account 'admin'"), reply
    reply = await mint(bridge, "viewer", ["players.view"], "1h")
    assert refused(reply, "not in WS_BRIDGE_MINT_SUBJECTS"), reply
    assert not await database_sync_to_async(IssuedToken.objects.exists)()
    assert (await bridge.request("ping", request_id="p"))["event"] == "pong"  # the socket survives
    await bridge.close()


async def test_the_bridge_mints_only_within_the_owners_allow_list():
    bridge = await bridge_and_users()
    with override_settings(**{**ALLOWED, "WS_BRIDGE_MINT_SUBJECTS": ["viewer", "staffer", "admin"]}):
        # Staff accounts never, whatever the list says.
        assert refused(await mint(bridge, "admin", ["players.view"], "1h"), "staff account 'admin'")
        assert refused(await mint(bridge, "staffer", ["players.view"], "1h"), "staff account")
        assert refused(await mint(bridge, "viewer", ["stats.view"], "1h"), "may not mint stats.view")
        assert refused(await mint(bridge, "viewer", ["players.view"], "2h"), "WS_BRIDGE_MINT_MAX_LIFETIME")
    with override_settings(**{**ALLOWED, "WS_BRIDGE_MINT_PERMISSIONS": ["players.view", "admin", "gameserver"]}):
        # Even if the setting were edited past the start-up check.
        assert refused(await mint(bridge, "viewer", ["admin"], "1h"), "may not mint admin")
        assert refused(await mint(bridge, "viewer", ["gameserver"], "1h"), "may not mint gameserver")
    with override_settings(**ALLOWED):
        reply = await mint(bridge, "viewer", ["players.view"], "1h")
        assert reply["event"] == "token", reply
        viewer = await authed_client(reply["data"]["token"])
        await viewer.close()
        # Left out, expiresIn is the default shortened to the bridge's longest.
        assert (await mint(bridge, "viewer", ["players.view"]))["event"] == "token"
    rows = await database_sync_to_async(
        lambda: list(IssuedToken.objects.values_list("user__username", "issued_by__username", "label",
                                                     "issued_at", "expires_at"))
    )()
    assert len(rows) == 2
    for user, issuer, label, issued, expires in rows:
        assert (user, issuer) == ("viewer", "bridge")
        assert "game server's bridge" in label
        assert (expires - issued).total_seconds() <= 3600
    await bridge.close()


@pytest.mark.parametrize("name", ["admin", "gameserver", "no.such"])
def test_settings_refuse_admin_and_gameserver_in_the_bridge_allow_list(name):
    from project import config

    with pytest.raises(ImproperlyConfigured, match="WS_BRIDGE_MINT_PERMISSIONS"):
        config.check_bridge_mint(["players.view", name])
    config.check_bridge_mint(["players.view", "stats.view"])
