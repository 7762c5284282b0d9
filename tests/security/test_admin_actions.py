"""Changes made in Django admin go through the socket's own action functions (finding #16,
second half): a ban saved there kicks an online player over the bridge and is broadcast
as playerBanned, lifting one broadcasts playerUnbanned, a job saved there is pushed and
broadcast as jobsChanged, each audited as over the socket.

The admin views are driven with Django's test client in a worker thread
(``sync_to_async(client.post, thread_sensitive=False)``, so the test can
query the database while a view waits for the game server) while the sockets run in the test's event loop."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import Client as HttpClient
from django.urls import reverse

from game.models import AuditEntry, Ban, BanIdentifier, Job
from tests.game.support import answer, expect_request, game_client, player, send_snapshot
from tests.helpers import amake_user, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
async def staff():
    """A staff member holding players.ban and jobs.manage, logged in to Django admin."""
    user = await amake_user("mod", ["players.ban", "jobs.manage", "jobs.view"], is_staff=True)
    http = HttpClient()
    await sync_to_async(http.force_login)(user)
    return http


@pytest.fixture
async def sockets():
    await amake_user("gameserver", ["gameserver"])
    await amake_user("boss", superuser=True)
    admin = await game_client(spec_token("boss", ["admin"]))
    bridge = await game_client(spec_token("gameserver", ["gameserver"]))
    yield admin, bridge
    await admin.close()
    await bridge.close()


def ban_form(name: str, reason: str, identifiers: list[str], **extra: str) -> dict:
    data = {"name": name, "reason": reason, "expires_at_0": "", "expires_at_1": "",
            "identifiers-TOTAL_FORMS": str(len(identifiers)), "identifiers-INITIAL_FORMS": "0",
            "identifiers-MIN_NUM_FORMS": "0", "identifiers-MAX_NUM_FORMS": "1000", **extra}
    for i, value in enumerate(identifiers):
        data[f"identifiers-{i}-value"] = value
    return data


async def test_a_ban_saved_in_admin_kicks_the_online_player_and_is_broadcast(staff, sockets):
    admin, bridge = sockets
    await send_snapshot(bridge, [player(3, "Nova42")])
    post = sync_to_async(staff.post, thread_sensitive=False)(reverse("admin:game_ban_add"),
                                     ban_form("Nova42", "cheating", ["license:Nova42"]))
    posting = asyncio.ensure_future(post)
    command = await expect_request(bridge, "banPlayer")
    assert command["data"] == {"source": 3, "reason": "cheating", "expiresAt": None}
    await answer(bridge, command, message="Nova42 banned")
    response = await posting
    assert response.status_code == 302, response.content.decode()[:2000]
    banned = await admin.expect("playerBanned")
    ban = await Ban.objects.aget()
    assert banned["data"] == {"banId": ban.pk, "source": 3, "name": "Nova42", "reason": "cheating",
                              "expiresAt": None, "server": "main", "scope": "all"}
    # Identifiers are stored in their normal form (lower case: issue 13 #20).
    assert sorted([i.value async for i in BanIdentifier.objects.filter(ban=ban)]) == [
        "discord:300", "license:nova42"]
    entry = await AuditEntry.objects.aget(action="player.ban")
    assert (entry.actor_name, entry.outcome, entry.detail) == ("mod", "ok", "Nova42 banned")


async def test_a_ban_saved_in_admin_with_no_game_server_is_stored_and_broadcast(staff, sockets):
    admin, bridge = sockets
    await bridge.close()
    response = await sync_to_async(staff.post)(reverse("admin:game_ban_add"),
                                               ban_form("Ghost", "alt account", ["license:ghost"]))
    assert response.status_code == 302, response.content.decode()[:2000]
    ban = await Ban.objects.aget()
    banned = await admin.expect("playerBanned")
    assert banned["data"] == {"banId": ban.pk, "source": None, "name": "Ghost", "reason": "alt account",
                              "expiresAt": None, "server": "main", "scope": "all"}
    assert ban.banned_by_name == "mod"
    entry = await AuditEntry.objects.aget(action="player.ban")
    assert entry.detail == "stored; the game server refuses these identifiers at connect"


async def test_lifting_in_admin_broadcasts_player_unbanned(staff, sockets):
    admin, _ = sockets
    ban = await Ban.objects.acreate(name="Nova42", reason="cheating")
    await BanIdentifier.objects.acreate(ban=ban, value="license:abc")
    response = await sync_to_async(staff.post)(
        reverse("admin:game_ban_changelist"), {"action": "lift_bans", "_selected_action": [ban.pk]})
    assert response.status_code == 302
    unbanned = await admin.expect("playerUnbanned")
    assert unbanned["data"] == {"banId": ban.pk, "name": "Nova42", "server": None}
    await ban.arefresh_from_db()
    assert ban.lifted_at is not None and ban.lifted_by_name == "mod"
    entry = await AuditEntry.objects.aget(action="player.unban")
    assert entry.actor_name == "mod"


async def test_a_job_saved_in_admin_is_pushed_and_broadcast(staff, sockets):
    admin, bridge = sockets
    await send_snapshot(bridge, [])
    data = {"name": "police", "label": "Police",
            "grades-TOTAL_FORMS": "1", "grades-INITIAL_FORMS": "0", "grades-MIN_NUM_FORMS": "0",
            "grades-MAX_NUM_FORMS": "1000",
            "grades-0-grade": "0", "grades-0-name": "cadet", "grades-0-label": "Cadet", "grades-0-salary": "50"}
    posting = asyncio.ensure_future(sync_to_async(staff.post, thread_sensitive=False)(reverse("admin:game_job_add"), data))
    pushed = await expect_request(bridge, "jobsChanged")
    job = {"name": "police", "label": "Police",
           "grades": [{"grade": 0, "name": "cadet", "label": "Cadet", "salary": 50}]}
    assert pushed["data"] == {"jobs": [job]}
    # Written and committed before anything leaves the platform (not inside admin's
    # still-open transaction while the game server is waited for).
    assert await Job.objects.filter(name="police").aexists()
    await answer(bridge, pushed)
    response = await posting
    assert response.status_code == 302, response.content.decode()[:2000]
    changed = await admin.expect("jobsChanged")
    assert changed["data"] == {"action": "created", "job": job}
    entry = await AuditEntry.objects.aget(action="job.create")
    assert (entry.actor_name, entry.outcome, entry.detail) == ("mod", "ok", "saved and pushed to the game server")
    assert await Job.objects.filter(name="police").aexists()


async def test_a_job_name_the_socket_refuses_is_refused_in_admin(staff, sockets):
    data = {"name": "Police-1", "label": "Police", "grades-TOTAL_FORMS": "0", "grades-INITIAL_FORMS": "0",
            "grades-MIN_NUM_FORMS": "0", "grades-MAX_NUM_FORMS": "1000"}
    response = await sync_to_async(staff.post)(reverse("admin:game_job_add"), data)
    assert response.status_code == 200 and "is not a job name" in response.content.decode()
    assert not await Job.objects.aexists()
    assert not await AuditEntry.objects.filter(action="job.create").aexists()


async def test_a_ban_the_game_server_refuses_is_shown_in_admin_and_not_stored(staff, sockets):
    admin, bridge = sockets
    await send_snapshot(bridge, [player(3, "Nova42")])
    posting = asyncio.ensure_future(sync_to_async(staff.post, thread_sensitive=False)(
        reverse("admin:game_ban_add"), ban_form("Nova42", "cheating", ["license:Nova42"])))
    command = await expect_request(bridge, "banPlayer")
    await answer(bridge, command, ok=False, message="player is an admin")
    response = await posting
    assert response.status_code == 302 and response.url == reverse("admin:game_ban_add")
    page = await sync_to_async(staff.get)(response.url)
    assert "The game server refused banPlayer: player is an admin" in page.content.decode()
    assert not await Ban.objects.aexists()
    entry = await AuditEntry.objects.aget(action="player.ban")
    assert entry.outcome == "failed"


async def test_a_ban_changed_in_admin_is_audited_and_keeps_hidden_ip_identifiers(staff, sockets):
    ban = await Ban.objects.acreate(name="Nova42", reason="cheating")
    shown = await BanIdentifier.objects.acreate(ban=ban, value="license:abc")
    await BanIdentifier.objects.acreate(ban=ban, value="ip:203.0.113.7")
    data = ban_form("Nova42", "cheating again", [], **{
        "identifiers-TOTAL_FORMS": "1", "identifiers-INITIAL_FORMS": "1",
        "identifiers-0-id": str(shown.pk), "identifiers-0-ban": str(ban.pk), "identifiers-0-value": "license:abc"})
    response = await sync_to_async(staff.post)(reverse("admin:game_ban_change", args=[ban.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    await ban.arefresh_from_db()
    assert ban.reason == "cheating again"
    assert sorted([i.value async for i in BanIdentifier.objects.filter(ban=ban)]) == [
        "ip:203.0.113.7", "license:abc"]
    entry = await AuditEntry.objects.aget(action="ban.change")
    assert entry.actor_name == "mod" and entry.data["changes"] == {"reason": "cheating again"}
