"""A token minted by one user for another is bounded by its issuer's current grants, dies
with its issuer, and is audited "issuer on behalf of subject" (issue 13, #2)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import override_settings

from game.models import AuditEntry
from realtime import protocol
from realtime.api import generate_token
from tests.helpers import Client, amake_user, authed_client, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


async def boss_mints_for_mod() -> str:
    """Superuser ``boss`` mints ``mod`` a token with players.view and announce."""
    boss = await amake_user("boss", superuser=True)
    await amake_user("mod", ["players.view", "announce"])
    return await database_sync_to_async(generate_token)(
        "mod", ["players.view", "announce"], "30d", label="minted in Django admin", issued_by=boss
    )


async def auth(token: str) -> dict:
    client = Client()
    await client.open()
    reply = await client.auth(token)
    await client.close()
    return reply


@database_sync_to_async
def demote_boss_to(grants: list[str]) -> None:
    boss = get_user_model().objects.get(username="boss")
    boss.is_superuser = False
    boss.save()
    boss.user_permissions.set(Permission.objects.filter(content_type__app_label="accounts", codename__in=grants))


@database_sync_to_async
def deactivate_boss() -> None:
    boss = get_user_model().objects.get(username="boss")
    boss.is_active = False
    boss.save()


@database_sync_to_async
def delete_boss() -> None:
    get_user_model().objects.get(username="boss").delete()


async def test_the_issuer_losing_a_grant_takes_it_from_the_token():
    token = await boss_mints_for_mod()
    socket = await authed_client(token)
    await demote_boss_to(["players.view"])
    changed = await socket.expect("permissionsChanged")
    assert changed["data"] == {"permissions": ["players.view"]}
    reply = await socket.request("announce", {"message": "hi"}, "a")
    assert reply["data"]["code"] == "permission_denied", reply
    fresh = await auth(token)
    assert (fresh["event"], fresh["data"]["permissions"]) == ("authenticated", ["players.view"])
    await socket.close()


@pytest.mark.parametrize("end", [deactivate_boss.__name__, delete_boss.__name__])
async def test_a_token_dies_with_its_issuer(end):
    token = await boss_mints_for_mod()
    socket = await authed_client(token)
    await (deactivate_boss() if end == "deactivate_boss" else delete_boss())
    assert await socket.expect_close() == protocol.CLOSE_ACCESS_REVOKED
    reply = await auth(token)
    assert reply["data"].get("code") == "invalid_token", reply
    if end == "delete_boss":  # a new user taking the deleted issuer's name is not the issuer
        await amake_user("boss", superuser=True)
        assert (await auth(token))["data"].get("code") == "invalid_token"
    # The subject's own tokens are not the issuer's: they keep working.
    assert (await auth(spec_token("mod", ["players.view"])))["event"] == "authenticated"


async def test_an_action_through_the_token_is_audited_on_behalf_of():
    token = await boss_mints_for_mod()
    socket = await authed_client(token)
    reply = await socket.request("announce", {"message": "hi"}, "a")
    assert reply["data"]["code"] == "game_server_offline", reply  # audited as failed
    entry = await database_sync_to_async(AuditEntry.objects.get)(action="announce")
    assert (entry.actor_name, entry.issuer_name) == ("mod", "boss")
    assert entry.actor_display == "boss on behalf of mod"
    await socket.close()
    admin = await authed_client(spec_token("boss", ["admin"]))
    log = await admin.request("getAuditLog", {}, "l")
    (shown,) = [e for e in log["data"]["entries"] if e["action"] == "announce"]
    assert (shown["actor"], shown["issuer"]) == ("mod", "boss")
    await admin.close()


async def test_own_and_bridge_tokens_are_not_bounded_by_the_minter():
    await amake_user("mod", ["players.view"])
    own = await database_sync_to_async(get_user_model().objects.get)(username="mod")
    token = await database_sync_to_async(generate_token)("mod", ["players.view"], "1h", issued_by=own)
    assert (await auth(token))["data"]["permissions"] == ["players.view"]
    # The bridge holds only gameserver: its tokens are bounded by the owner's allow-list.
    bridge = await amake_user("bridge", ["gameserver"])
    with override_settings(WS_BRIDGE_MINT_SUBJECTS=["mod"], WS_BRIDGE_MINT_PERMISSIONS=["players.view"]):
        token = await database_sync_to_async(generate_token)(
            "mod", ["players.view"], "1h", issued_by=bridge.pk, bridge=True
        )
        assert (await auth(token))["data"]["permissions"] == ["players.view"]
    with override_settings(WS_BRIDGE_MINT_PERMISSIONS=[]):  # the owner takes it back
        assert (await auth(token))["data"]["permissions"] == []
