"""auth on the socket: registered tokens, token expiry, what it costs, racing a change."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.test import override_settings
from django.utils import timezone

from accounts import services
from accounts.models import IssuedToken
from realtime import access, protocol, tokens
from realtime.api import generate_token
from realtime.hub import get_hub
from tests.accounts.support import DatabaseThreadQueries
from tests.helpers import Client, amake_user, authed_client, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


async def wait_for(condition, timeout: float = 2.0) -> None:
    """Poll a database condition until it holds (the stamp is written off the reply's path)."""
    deadline = time.monotonic() + timeout
    while not await database_sync_to_async(condition)():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@override_settings(WS_REQUIRE_REGISTERED_TOKENS=True)
async def test_with_registration_required_only_platform_tokens_authenticate():
    await amake_user("viewer", ["stats.view"])
    client = Client()
    await client.open()
    assert (await client.auth(spec_token("viewer", ["stats.view"])))["data"]["code"] == "invalid_token"
    assert await client.expect_close() == protocol.CLOSE_INVALID_TOKEN

    token = await database_sync_to_async(generate_token)("viewer", ["stats.view"])
    client = await authed_client(token)
    await client.close()


async def test_without_registration_required_outside_tokens_work_within_grants():
    await amake_user("viewer", ["stats.view"])
    client = await authed_client(spec_token("viewer", ["stats.view", "players.ban"]))
    assert (await client.auth(spec_token("viewer", ["stats.view"])))["data"]["permissions"] == ["stats.view"]
    await client.close()


async def test_socket_auth_costs_one_query_cold_and_none_warm():
    await amake_user("viewer", ["stats.view"])
    token = spec_token("viewer", ["stats.view"])
    async with DatabaseThreadQueries() as cold:
        first = await authed_client(token)
    async with DatabaseThreadQueries() as warm:
        second = await authed_client(token)
        await second.auth(token)  # re-auth too
    assert len(cold.sql) == 1, cold.sql
    assert warm.sql == []
    await first.close()
    await second.close()


async def test_registered_token_auth_reads_once_and_stamps_last_used_off_the_path():
    await amake_user("viewer", ["stats.view"])
    token = await database_sync_to_async(generate_token)("viewer", ["stats.view"])
    async with DatabaseThreadQueries() as cold:
        first = await authed_client(token)
        await wait_for(lambda: IssuedToken.objects.filter(last_used_at__isnull=False).exists())
    assert len([s for s in cold.selects() if "auth_user" in s]) == 1, cold.sql
    assert len([s for s in cold.sql if s.startswith("UPDATE") and "last_used_at" in s]) == 1
    async with DatabaseThreadQueries() as warm:
        second = await authed_client(token)
        assert (await second.request("ping"))["event"] == "pong"
    assert warm.sql == []  # cached, and stamped less than a minute ago
    await first.close()
    await second.close()


@override_settings(WS_TOKEN_EXPIRY_WARNING=1)
async def test_token_expiring_then_expired_and_closed():
    await amake_user("viewer", ["stats.view"])
    client = await authed_client(spec_token("viewer", ["stats.view"], lifetime=2))
    expiring = await client.expect("tokenExpiring", timeout=3)
    assert expiring["data"]["expiresIn"] in (0, 1)
    assert (await client.request("ping"))["event"] == "pong"  # still usable until exp
    expired = await client.expect("tokenExpired", timeout=3)
    assert expired == {"event": "tokenExpired"}
    assert await client.expect_close(timeout=1) == protocol.CLOSE_TOKEN_EXPIRED


@override_settings(WS_TOKEN_EXPIRY_WARNING=1)
async def test_reauth_in_time_keeps_the_socket_past_the_first_tokens_expiry():
    await amake_user("viewer", ["stats.view"])
    client = await authed_client(spec_token("viewer", ["stats.view"], lifetime=2))
    await client.expect("tokenExpiring", timeout=3)
    renewed = await client.auth(spec_token("viewer", ["stats.view"], lifetime=3600))
    assert renewed["data"]["clientId"] == client.client_id
    # Past the first token's expiry: nothing arrives, and the socket still answers.
    assert await client.nothing(2.0)
    assert (await client.request("ping"))["event"] == "pong"
    await client.close()


async def test_a_token_inside_the_warning_window_is_warned_about_at_once():
    await amake_user("viewer", ["stats.view"])
    client = await authed_client(spec_token("viewer", ["stats.view"], lifetime=20))
    expiring = await client.expect("tokenExpiring", timeout=1)
    assert 18 <= expiring["data"]["expiresIn"] <= 20
    await client.close()


def race(monkeypatch, *messages: dict, meanwhile: Callable[[], object] = lambda: None) -> list[bool]:
    """While the next auth's first database read runs, ``meanwhile`` runs (a change that
    commits) and this process's hub receives ``messages`` (handled as if they came from the
    channel layer). The reads made, as their ``fresh`` flags."""
    hub, calls, real = get_hub(), [], services.authenticate

    def racing(payload, *, fresh=False):
        calls.append(fresh)
        principal = real(payload, fresh=fresh)
        if len(calls) == 1:
            meanwhile()
            for message in messages:
                async_to_sync(hub._handle)(message)
        return principal

    monkeypatch.setattr(services, "authenticate", racing)
    return calls


def changed(*usernames: str) -> dict:
    return {"type": "accounts.changed", "user_ids": [], "usernames": list(usernames)}


async def test_an_auth_that_raced_a_change_of_its_user_reads_again_uncached(monkeypatch):
    """A change announced while auth was reading must not be answered from a stale read."""
    await amake_user("viewer", ["stats.view"])
    calls = race(monkeypatch, changed("viewer"))
    assert (await access.authenticate({"sub": "viewer", "permissions": []})).username == "viewer"
    assert calls == [False, True]


async def test_an_auth_that_raced_the_revocation_of_its_token_is_refused(monkeypatch):
    await amake_user("viewer", ["stats.view"])
    payload = tokens.verify(await database_sync_to_async(generate_token)("viewer", ["stats.view"]))
    jti = payload["jti"]
    calls = race(
        monkeypatch, {"type": "accounts.revoked", "jtis": [jti]},
        meanwhile=lambda: IssuedToken.objects.filter(jti=jti).update(revoked_at=timezone.now()),
    )
    assert await access.authenticate(payload) is None
    assert calls == [False, True]


async def test_changes_of_other_users_during_an_auth_do_not_concern_it(monkeypatch):
    """However many (more than the three reads an auth may take), as when users are created."""
    await amake_user("viewer", ["stats.view"])
    calls = race(monkeypatch, *(changed(f"other{i}") for i in range(5)),
                 {"type": "accounts.revoked", "jtis": ["someone-elses-token"]})
    assert (await access.authenticate({"sub": "viewer", "permissions": []})).username == "viewer"
    assert calls == [False]


async def test_more_changes_during_an_auth_than_are_kept_count_as_its_own(monkeypatch):
    await amake_user("viewer", ["stats.view"])
    calls = race(monkeypatch, *(changed(f"other{i}") for i in range(300)))
    assert (await access.authenticate({"sub": "viewer", "permissions": []})).username == "viewer"
    assert calls == [False, True]
