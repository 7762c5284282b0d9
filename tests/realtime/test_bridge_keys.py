"""Per-bridge signing keys (realtime.bridgekeys): delivered over the bridge, rotated,
revoked; tokens a bridge signs with its key are accepted only within the allow-list for
bridge-minted tokens, and registered."""

from __future__ import annotations

import base64
import secrets
import time
from datetime import timedelta

import jwt
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from accounts.models import BridgeSigningKey, IssuedToken
from realtime import bridgekeys
from realtime.events import announce_key_change
from tests.helpers import Client, make_user, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def accounts(db, settings):
    settings.WS_BRIDGE_MINT_SUBJECTS = ["viewer", "staffer"]
    settings.WS_BRIDGE_MINT_PERMISSIONS = ["players.view", "players.kick"]
    settings.WS_BRIDGE_MINT_MAX_LIFETIME = "1h"
    make_user("gameserver", ["gameserver"])
    make_user("other-server", ["gameserver"])
    make_user("viewer", ["players.view"])
    make_user("staffer", ["players.view"], is_staff=True)


def sign(key: dict, sub: str = "viewer", permissions=("players.view",), lifetime: int = 600, **changes) -> str:
    """A token exactly as the FiveM resource signs it (fivem/server/lib/signing.js)."""
    now = int(time.time())
    payload = {"sub": sub, "permissions": list(permissions), "iat": now, "exp": now + lifetime,
               "jti": secrets.token_hex(16), "server": key["server"], **changes}
    secret = base64.urlsafe_b64decode(key["key"] + "=" * (-len(key["key"]) % 4))
    return jwt.encode(payload, secret, algorithm="HS256", headers={"kid": key["kid"]})


async def bridge(username: str = "gameserver") -> tuple[Client, dict]:
    """An authenticated, subscribed bridge socket and the signing key given to it."""
    client = Client()
    await client.open()
    assert (await client.auth(spec_token(username, ["gameserver"])))["event"] == "authenticated"
    synced = await client.request("bridgeSync")
    assert synced["event"] == "bridgeSynced"
    assert (await client.recv())["event"] == "connectedClients"
    return client, synced["data"]["signingKey"]


async def auth(token: str) -> dict:
    client = Client()
    await client.open()
    reply = await client.auth(token)
    await client.close()
    return reply


async def test_the_key_is_delivered_with_the_allow_list_and_verifies_what_it_signs(accounts):
    client, key = await bridge()
    assert key["kid"].startswith("bk-") and key["server"] == "gameserver" and key["algorithm"] == "HS256"
    assert key == {**key, "subjects": ["viewer", "staffer"], "permissions": ["players.view", "players.kick"],
                   "maxLifetime": 3600}
    # Never the platform's secret, nor anything a spec token could be signed with.
    forged = jwt.encode({"sub": "viewer", "permissions": ["players.view"], "iat": int(time.time()),
                         "exp": int(time.time()) + 60}, base64.urlsafe_b64decode(key["key"] + "="), algorithm="HS256")
    assert (await auth(forged))["data"]["code"] == "invalid_token"

    token = sign(key)
    reply = await auth(token)
    assert reply["event"] == "authenticated" and reply["data"]["permissions"] == ["players.view"]
    row = await IssuedToken.objects.select_related("issued_by", "signing_key").aget(
        jti=jwt.decode(token, options={"verify_signature": False})["jti"])
    assert row.issued_by.username == "gameserver" and row.signing_key.kid == key["kid"]
    assert row.user_id == (await get_user_model().objects.aget(username="viewer")).pk
    # Used again: the same registered token.
    assert (await auth(token))["event"] == "authenticated"
    assert await IssuedToken.objects.filter(signing_key__kid=key["kid"]).acount() == 1
    # Another bridge account has a key of its own.
    other, other_key = await bridge("other-server")
    assert other_key["kid"] != key["kid"] and other_key["key"] != key["key"]
    await other.close()
    await client.close()


@pytest.mark.parametrize("changes, why", [
    ({"sub": "staffer"}, "a staff account"),
    ({"sub": "admin-user-id"}, "a subject outside WS_BRIDGE_MINT_SUBJECTS"),
    ({"permissions": ["admin"]}, "admin"),
    ({"permissions": ["players.view", "gameserver"]}, "gameserver"),
    ({"permissions": ["players.kick"]}, "a permission the subject does not hold"),
    ({"lifetime": 7200}, "longer than WS_BRIDGE_MINT_MAX_LIFETIME"),
    ({"server": "other-server"}, "naming another server"),
    ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 3700}, "issued in the future"),
    ({"jti": None}, "no token id"),
    ({"permissions": "players.view"}, "permissions not a list"),
])
async def test_tokens_outside_the_allow_list_are_refused(accounts, changes, why):
    client, key = await bridge()
    await sync_to_async(make_user)("admin-user-id", ["players.view"])
    lifetime = changes.pop("lifetime", 600)
    sub = changes.pop("sub", "viewer")
    permissions = changes.pop("permissions", ["players.view"])
    token = sign(key, sub, permissions, lifetime, **changes)
    reply = await auth(token)
    assert reply["event"] == "error" and reply["data"]["code"] == "invalid_token", why
    assert not await IssuedToken.objects.filter(signing_key__isnull=False).aexists(), "nothing registered"
    await client.close()


async def test_a_tampered_or_unknown_key_is_refused(accounts):
    client, key = await bridge()
    token = sign(key)
    head, body, sig = token.split(".")
    tampered = f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    assert (await auth(tampered))["data"]["code"] == "invalid_token"
    unknown = sign({**key, "kid": "bk-000000000000000000000000"})
    assert (await auth(unknown))["data"]["code"] == "invalid_token"
    # A token id already taken by another token (here: one the platform minted) is refused.
    from realtime.api import agenerate_token

    minted = await agenerate_token("viewer", ["players.view"], "1h")
    reuse = sign(key, jti=jwt.decode(minted, options={"verify_signature": False})["jti"])
    assert (await auth(reuse))["data"]["code"] == "invalid_token"
    await client.close()


async def test_rotation_pushes_a_new_key_and_the_old_one_keeps_its_tokens(accounts, settings):
    settings.WS_BRIDGE_KEY_ROTATION = "2s"
    client, first = await bridge()
    assert (await auth(sign(first)))["event"] == "authenticated"
    pushed = await client.expect("signingKey", timeout=6)  # at rotatesAt: a new key, unasked
    assert pushed["event"] == "signingKey" and pushed["data"]["kid"] != first["kid"]
    second = pushed["data"]
    assert second["rotatesAt"] > first["rotatesAt"]
    old = await BridgeSigningKey.objects.aget(kid=first["kid"])
    assert old.retired_at is not None and old.revoked_at is None
    # The retired key verifies what it signed before it retired (plus WS_TOKEN_LEEWAY for
    # the game server's clock), nothing signed after. Here its life is moved back in time.
    now = int(time.time())
    await BridgeSigningKey.objects.filter(pk=old.pk).aupdate(
        created_at=old.created_at - timedelta(seconds=300), retired_at=old.retired_at - timedelta(seconds=120))
    assert (await auth(sign(first, iat=now - 200, exp=now + 300)))["event"] == "authenticated"
    assert (await auth(sign(first)))["data"]["code"] == "invalid_token"
    assert (await auth(sign(second)))["event"] == "authenticated"
    await client.close()


async def test_revoking_a_bridges_keys_revokes_their_tokens_and_gives_it_a_fresh_one(accounts):
    client, key = await bridge()
    token = sign(key)
    holder = Client()
    await holder.open()
    assert (await holder.auth(token))["event"] == "authenticated"
    user = await get_user_model().objects.aget(username="gameserver")
    assert await sync_to_async(bridgekeys.revoke)(user) == 1
    assert await holder.expect_close() == 4003, "a socket on a token the key signed closes"
    await sync_to_async(announce_key_change)([user.pk])
    fresh = await client.expect("signingKey")
    assert fresh["event"] == "signingKey" and fresh["data"]["kid"] != key["kid"]
    assert (await auth(sign(key)))["data"]["code"] == "invalid_token"
    assert (await auth(sign(fresh["data"])))["event"] == "authenticated"
    await client.close()


async def test_a_bridge_account_that_is_deactivated_or_loses_gameserver_verifies_nothing(accounts):
    client, key = await bridge()
    token = sign(key)
    await client.close()
    user = await get_user_model().objects.aget(username="gameserver")
    await user.user_permissions.aclear()
    assert (await auth(token))["data"]["code"] == "invalid_token"
    # And it is given no key: a socket of that account without gameserver gets none.
    assert await sync_to_async(bridgekeys.delivery)(user.pk, "gameserver") is None


async def test_a_bridge_renews_its_own_token_as_long_lived_as_the_one_it_holds(accounts):
    client = Client()
    await client.open()
    await client.auth(spec_token("gameserver", ["gameserver"], lifetime=7200))
    reply = await client.request("renewToken", request_id="n")
    assert reply["event"] == "token" and reply["requestId"] == "n"
    claims = jwt.decode(reply["data"]["token"], options={"verify_signature": False})
    assert claims["sub"] == "gameserver" and claims["permissions"] == ["gameserver"]
    assert claims["exp"] - claims["iat"] == 7200
    row = await IssuedToken.objects.aget(jti=claims["jti"])
    assert row.label == "renewed by the game server's bridge"
    # The socket re-authenticates with it in place.
    again = await client.auth(reply["data"]["token"])
    assert again["event"] == "authenticated" and again["data"]["clientId"] == client.client_id
    await client.close()
    viewer = Client()
    await viewer.open()
    await viewer.auth(spec_token("viewer", ["players.view"]))
    denied = await viewer.request("renewToken")
    assert denied["data"]["code"] == "permission_denied"
    await viewer.close()
