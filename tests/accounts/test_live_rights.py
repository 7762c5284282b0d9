"""Open sockets follow their user's rights: revocation, deactivation, grants and groups."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from accounts.models import IssuedToken
from accounts.tokens import revoke_tokens
from realtime import protocol
from realtime.api import generate_token
from tests.accounts.support import DatabaseThreadQueries, socket_permissions
from tests.helpers import Client, amake_user, authed_client, spec_token

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async
User = get_user_model()


def user(username: str):
    return User.objects.get(username=username)


@db
def revoke(jti: str) -> int:
    return revoke_tokens(IssuedToken.objects.filter(jti=jti))


@db
def mint(username: str, permissions: list[str], expires: str = "1h") -> tuple[str, str]:
    token = generate_token(username, permissions, expires)
    return token, IssuedToken.objects.latest("id").jti


@db
def remove_grants(username: str, *names: str) -> None:
    user(username).user_permissions.remove(*socket_permissions(*names))


@db
def add_grants(username: str, *names: str) -> None:
    user(username).user_permissions.add(*socket_permissions(*names))


async def test_revoking_a_token_closes_its_sockets_with_4003_and_only_those():
    await amake_user("bridge", ["gameserver"])
    token, jti = await mint("bridge", ["gameserver"])
    other, _ = await mint("bridge", ["gameserver"])
    doomed = [await authed_client(token), await authed_client(token)]
    survivor = await authed_client(other)

    assert await revoke(jti) == 1

    for client in doomed:
        assert await client.expect_close(timeout=1) == protocol.CLOSE_ACCESS_REVOKED
    assert (await survivor.request("getConnectedClients"))["event"] == "clients"
    await survivor.close()


async def test_a_revoked_token_is_refused_afterwards():
    await amake_user("bridge", ["gameserver"])
    token, jti = await mint("bridge", ["gameserver"])
    first = await authed_client(token)  # caches "registered, not revoked"
    await revoke(jti)
    assert await first.expect_close(timeout=1) == protocol.CLOSE_ACCESS_REVOKED
    again = Client()
    await again.open()
    reply = await again.auth(token)
    assert reply["data"] == {"message": "Invalid token", "code": "invalid_token"}
    assert await again.expect_close() == protocol.CLOSE_INVALID_TOKEN


async def test_deactivating_a_user_closes_their_sockets_with_4003():
    await amake_user("viewer", ["stats.view"])
    await amake_user("other", ["stats.view"])
    mine = [await authed_client(spec_token("viewer", ["stats.view"])) for _ in range(2)]
    theirs = await authed_client(spec_token("other", ["stats.view"]))

    @db
    def deactivate() -> None:
        u = user("viewer")
        u.is_active = False
        u.save()

    await deactivate()
    for client in mine:
        assert await client.expect_close(timeout=1) == protocol.CLOSE_ACCESS_REVOKED
    assert (await theirs.request("ping"))["event"] == "pong"
    await theirs.close()


async def test_deleting_or_renaming_a_user_closes_their_sockets():
    await amake_user("gone", ["stats.view"])
    await amake_user("renamed", ["stats.view"])
    gone = await authed_client(spec_token("gone", ["stats.view"]))
    renamed = await authed_client(spec_token("renamed", ["stats.view"]))

    await db(lambda: user("gone").delete())()
    assert await gone.expect_close(timeout=1) == protocol.CLOSE_ACCESS_REVOKED

    @db
    def rename() -> None:
        u = user("renamed")
        u.username = "renamed2"
        u.save()

    await rename()  # the token names "renamed", who no longer exists
    assert await renamed.expect_close(timeout=1) == protocol.CLOSE_ACCESS_REVOKED


async def test_removing_a_grant_narrows_the_socket_and_adding_it_back_widens_it():
    await amake_user("bridge", ["gameserver", "stats.view"])
    client = await authed_client(spec_token("bridge", ["gameserver", "stats.view"]))
    assert (await client.request("getConnectedClients"))["event"] == "clients"

    await remove_grants("bridge", "gameserver")
    changed = await client.expect("permissionsChanged", timeout=1)
    assert changed == {"event": "permissionsChanged", "data": {"permissions": ["stats.view"]}}
    denied = await client.request("getConnectedClients", request_id="g")
    assert denied["data"]["code"] == "permission_denied" and denied["requestId"] == "g"

    await add_grants("bridge", "gameserver", "players.kick")  # players.kick: not in the token
    changed = await client.expect("permissionsChanged", timeout=1)
    assert changed["data"] == {"permissions": ["stats.view", "gameserver"]}
    assert (await client.request("getConnectedClients"))["event"] == "clients"
    await client.close()


async def test_a_change_that_alters_nothing_for_the_socket_sends_nothing():
    await amake_user("viewer", ["stats.view"])
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    await add_grants("viewer", "jobs.view")  # not in the token: the socket may do the same
    assert await client.nothing(0.3)
    await client.close()


async def test_a_token_for_permissions_the_user_no_longer_holds_grants_nothing():
    await amake_user("bridge", ["gameserver"])
    token, _ = await mint("bridge", ["gameserver"])
    await remove_grants("bridge", "gameserver")
    client = Client()
    await client.open()
    reply = await client.auth(token)
    assert reply["data"] == {"clientId": client.client_id, "permissions": []}
    denied = await client.request("getConnectedClients")
    assert denied["data"]["code"] == "permission_denied"
    await client.close()


async def test_group_membership_and_group_permissions_reach_the_socket():
    await amake_user("mod", [])

    @db
    def setup() -> None:
        group = Group.objects.create(name="Bridges")
        group.permissions.add(*socket_permissions("gameserver"))

    await setup()
    client = Client()
    await client.open()
    assert (await client.auth(spec_token("mod", ["gameserver", "stats.view"])))["data"]["permissions"] == []

    await db(lambda: user("mod").groups.add(Group.objects.get(name="Bridges")))()
    assert (await client.expect("permissionsChanged", timeout=1))["data"]["permissions"] == ["gameserver"]

    await db(lambda: Group.objects.get(name="Bridges").permissions.add(*socket_permissions("stats.view")))()
    assert (await client.expect("permissionsChanged", timeout=1))["data"]["permissions"] == [
        "stats.view", "gameserver",
    ]

    # From the permission's side, clearing: who had it is remembered before the clear.
    await db(lambda: Permission.objects.get(codename="stats.view").group_set.clear())()
    assert (await client.expect("permissionsChanged", timeout=1))["data"]["permissions"] == ["gameserver"]

    await db(lambda: Group.objects.get(name="Bridges").delete())()
    assert (await client.expect("permissionsChanged", timeout=1))["data"]["permissions"] == []
    await client.close()


async def test_superuser_status_reaches_the_socket():
    await amake_user("boss", [])
    client = await authed_client(spec_token("boss", ["admin"]))

    @db
    def promote(value: bool) -> None:
        u = user("boss")
        u.is_superuser = value
        u.save()

    await promote(True)
    granted = (await client.expect("permissionsChanged", timeout=1))["data"]["permissions"]
    assert granted[0] == "admin" and "players.kick" in granted and "gameserver" not in granted
    await promote(False)
    assert (await client.expect("permissionsChanged", timeout=1))["data"]["permissions"] == []
    await client.close()


async def test_one_announcement_per_commit_and_nothing_for_a_rollback():
    await amake_user("viewer", ["stats.view", "jobs.view"])
    client = await authed_client(spec_token("viewer", ["stats.view", "jobs.view"]))

    @db
    def change_and_roll_back() -> None:
        with transaction.atomic():
            user("viewer").user_permissions.clear()
            transaction.set_rollback(True)

    await change_and_roll_back()
    assert await client.nothing(0.3)

    @db
    def two_changes_one_commit() -> None:
        with transaction.atomic():
            u = user("viewer")
            u.user_permissions.remove(*socket_permissions("stats.view"))
            u.user_permissions.remove(*socket_permissions("jobs.view"))

    await two_changes_one_commit()
    assert (await client.expect("permissionsChanged", timeout=1))["data"]["permissions"] == []
    assert await client.nothing(0.3)
    await client.close()


async def test_a_change_costs_one_query_per_user_whatever_their_number_of_sockets():
    await amake_user("viewer", ["stats.view", "jobs.view"])
    clients = [await authed_client(spec_token("viewer", ["stats.view", "jobs.view"])) for _ in range(5)]

    async with DatabaseThreadQueries() as queries:
        await remove_grants("viewer", "jobs.view")
        for client in clients:
            await client.expect("permissionsChanged", timeout=1)
    principal_loads = [s for s in queries.selects() if "auth_user_user_permissions" in s and "is_active" in s]
    assert len(principal_loads) == 1, queries.sql
    for client in clients:
        await client.close()


async def test_reauth_replaces_the_token_keeps_the_socket_and_client_id():
    await amake_user("bridge", ["gameserver"])
    old, old_jti = await mint("bridge", ["gameserver"])
    new, new_jti = await mint("bridge", ["gameserver"])
    client = await authed_client(old)
    reply = await client.auth(new)
    assert reply == {
        "event": "authenticated",
        "data": {"clientId": client.client_id, "permissions": ["gameserver"]},
    }
    await revoke(old_jti)  # no longer the socket's token
    assert await client.nothing(0.3)
    assert (await client.request("getConnectedClients"))["data"]["clients"] == [client.client_id]
    await revoke(new_jti)
    assert await client.expect_close(timeout=1) == protocol.CLOSE_ACCESS_REVOKED


async def test_reauth_as_another_subject_is_refused_and_keeps_the_socket():
    await amake_user("viewer", ["stats.view"])
    await amake_user("other", ["stats.view", "gameserver"])
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    reply = await client.request("auth", {"token": spec_token("other", ["gameserver"])}, request_id="r")
    assert reply == {
        "event": "error",
        "data": {"message": "Re-authentication must be for the same subject", "code": "permission_denied"},
        "requestId": "r",
    }
    assert (await client.request("getConnectedClients"))["data"]["code"] == "permission_denied"
    assert (await client.request("ping"))["event"] == "pong"
    await client.close()
