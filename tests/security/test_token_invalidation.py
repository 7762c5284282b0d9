"""A password change or a deactivation ends a user's tokens; every revocation is audited
(issue 13, #6 and #14)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import IssuedToken
from game.models import AuditEntry
from realtime import protocol
from realtime.api import generate_token
from tests.helpers import Client, amake_user, authed_client, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def set_password(username: str, password: str) -> None:
    user = get_user_model().objects.get(username=username)
    user.set_password(password)
    user.save()


@database_sync_to_async
def deactivate(username: str) -> None:
    user = get_user_model().objects.get(username=username)
    user.is_active = False
    user.save()


async def refused(token: str) -> bool:
    client = Client()
    await client.open()
    reply = await client.auth(token)
    await client.close()
    return reply["data"].get("code") == "invalid_token"


@pytest.mark.parametrize("change", [set_password.__name__, deactivate.__name__])
async def test_a_password_change_or_deactivation_ends_every_token(change):
    await amake_user("viewer", ["players.view"])
    registered = await database_sync_to_async(generate_token)("viewer", ["players.view"], "30d")
    unregistered = spec_token("viewer", ["players.view"], lifetime=30 * 86400)
    sockets = [await authed_client(registered), await authed_client(unregistered)]
    if change == "set_password":
        await set_password("viewer", "a-new-password-1")
    else:
        await deactivate("viewer")
    for socket in sockets:
        assert await socket.expect_close() == protocol.CLOSE_ACCESS_REVOKED
    assert await refused(registered) and await refused(unregistered)
    token = await database_sync_to_async(IssuedToken.objects.get)()
    assert token.revoked_at is not None  # the admin shows it revoked
    entry = await database_sync_to_async(AuditEntry.objects.get)(action="token.revoke")
    reason = "password changed" if change == "set_password" else "deactivated"
    assert entry.data == {"jtis": [token.jti], "reason": reason}
    if change == "set_password":  # tokens minted afterwards work
        fresh = await database_sync_to_async(generate_token)("viewer", ["players.view"], "1h")
        (await authed_client(fresh)).comm.scope  # noqa: B018 - authenticated, or it raised


async def test_saving_a_user_without_a_password_change_keeps_the_tokens():
    await amake_user("viewer", ["players.view"])
    token = spec_token("viewer", ["players.view"])
    socket = await authed_client(token)

    @database_sync_to_async
    def touch() -> None:
        user = get_user_model().objects.get(username="viewer")
        user.first_name = "V"
        user.save()

    await touch()
    assert (await socket.request("ping", request_id="p"))["event"] == "pong"
    assert not await refused(token)
    await socket.close()


async def test_every_revocation_call_is_audited_once_with_who_and_why():
    await amake_user("viewer", ["players.view"])

    @database_sync_to_async
    def scenario() -> list:
        for _ in range(2):
            generate_token("viewer", ["players.view"], "1h")
        call_command("ws_revoke", "--user", "viewer", stdout=open("/dev/null", "w"))
        return list(AuditEntry.objects.filter(action="token.revoke").values_list("actor_name", "target", "data"))

    (entry,) = await scenario()
    jtis = await database_sync_to_async(lambda: sorted(IssuedToken.objects.values_list("jti", flat=True)))()
    assert entry[0] == "platform" and entry[1] == "2 token(s) of viewer"
    assert sorted(entry[2]["jtis"]) == jtis and entry[2]["reason"] == "ws_revoke"
