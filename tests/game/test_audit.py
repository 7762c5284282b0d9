"""The audit trail: over the socket (getAuditLog, admin only), token mints and revocations,
and the Django admin pages for the audit trail, bans, jobs and players."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from accounts.models import IssuedToken
from game.audit import Actor, record
from game.models import AuditEntry, Ban, Job
from realtime.api import generate_token
from tests.game.support import ask, game_client
from tests.helpers import spec_token

pytestmark = pytest.mark.django_db(transaction=True)


def test_minting_and_revoking_a_token_is_audited(people):
    from django.contrib.auth import get_user_model

    boss = get_user_model().objects.get(username="boss")
    generate_token("viewer", ["players.view"], "1h", label="dashboard", issued_by=boss)
    issued = IssuedToken.objects.get()
    minted = AuditEntry.objects.get(action="token.mint")
    assert (minted.actor_name, minted.target, minted.outcome) == ("boss", f"token {issued.jti} of viewer", "ok")
    assert minted.data["permissions"] == ["players.view"] and minted.data["label"] == "dashboard"
    issued.revoked_at, issued.revoked_by = timezone.now(), boss
    issued.save()
    issued.save()  # saved again (e.g. last_used): still one revocation entry
    revoked = AuditEntry.objects.get(action="token.revoke")
    assert (revoked.actor_name, revoked.data) == ("boss", {"jti": issued.jti})


def test_a_token_minted_without_a_staff_member_names_its_label(people):
    generate_token("gameserver", ["gameserver"], "1h", label="simulate_server")
    assert AuditEntry.objects.get().actor_name == "simulate_server"


async def test_get_audit_log_pages_newest_first(admin, people):
    def seed() -> None:
        for i in range(5):
            record(Actor(None, "boss", "jti-1"), "announce" if i % 2 else "player.kick", f"t{i}", {"i": i},
                   AuditEntry.OK)

    from channels.db import database_sync_to_async

    await database_sync_to_async(seed)()
    first = (await ask(admin, "getAuditLog", {"limit": 2}))["data"]
    assert [e["target"] for e in first["entries"]] == ["t4", "t3"]
    entry = first["entries"][0]
    assert set(entry) == {"id", "at", "actor", "issuer", "tokenJti", "action", "target", "data", "outcome", "detail"}
    assert (entry["actor"], entry["tokenJti"], entry["data"]) == ("boss", "jti-1", {"i": 4})
    assert entry["at"].endswith("Z")
    second = (await ask(admin, "getAuditLog", {"limit": 2, "before": first["nextBefore"]}))["data"]
    assert [e["target"] for e in second["entries"]] == ["t2", "t1"]
    last = (await ask(admin, "getAuditLog", {"limit": 2, "before": second["nextBefore"]}))["data"]
    assert [e["target"] for e in last["entries"]] == ["t0"] and last["nextBefore"] is None
    kicks = (await ask(admin, "getAuditLog", {"action": "announce"}))["data"]["entries"]
    assert [e["target"] for e in kicks] == ["t3", "t1"]
    bad = await ask(admin, "getAuditLog", {"limit": 501})
    assert bad["data"]["code"] == "invalid_payload"


async def test_only_admin_reads_the_audit_log(people):
    client = await game_client(spec_token("viewer", ["players.view"]))
    reply = await ask(client, "getAuditLog")
    assert reply["data"]["code"] == "permission_denied"
    await client.close()


@pytest.fixture
def staff(people):
    client = HttpClient()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="boss"))
    return client


def test_django_admin_shows_the_game_world(staff):
    record(Actor(None, "boss"), "player.kick", "player 5 Nova", {}, AuditEntry.FAILED, "The game server is offline")
    for url in ("/admin/game/auditentry/", "/admin/game/ban/", "/admin/game/job/", "/admin/game/player/",
                "/admin/game/character/", "/admin/game/gameserver/"):
        response = staff.get(url)
        assert response.status_code == 200, url
    assert b"The game server is offline" in staff.get("/admin/game/auditentry/").content
    assert staff.get("/admin/game/auditentry/add/").status_code == 403, "the trail is not written by hand"


def test_a_job_made_in_django_admin_is_audited_with_its_grades(staff):
    response = staff.post("/admin/game/job/add/", {
        "name": "taxi", "label": "Downtown Cab Co.",
        "grades-TOTAL_FORMS": "2", "grades-INITIAL_FORMS": "0",
        "grades-MIN_NUM_FORMS": "0", "grades-MAX_NUM_FORMS": "1000",
        "grades-0-grade": "0", "grades-0-name": "driver", "grades-0-label": "Driver", "grades-0-salary": "50",
        "grades-1-grade": "1", "grades-1-name": "boss", "grades-1-label": "Boss", "grades-1-salary": "90",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get(name="taxi")
    assert list(job.grades.values_list("grade", "name")) == [(0, "driver"), (1, "boss")]
    entry = AuditEntry.objects.get(action="job.create")
    assert entry.actor_name == "boss" and entry.data["job"]["grades"][1]["name"] == "boss"
    assert entry.outcome == "ok" and "offline" in entry.detail


def test_a_ban_made_in_django_admin_is_audited(staff):
    response = staff.post("/admin/game/ban/add/", {
        "name": "Mallory", "reason": "Griefing", "created_at_0": "2025-01-01", "created_at_1": "10:00:00",
        "expires_at_0": "", "expires_at_1": "",
        "identifiers-TOTAL_FORMS": "1", "identifiers-INITIAL_FORMS": "0",
        "identifiers-MIN_NUM_FORMS": "0", "identifiers-MAX_NUM_FORMS": "1000",
        "identifiers-0-value": "license:mallory",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    ban = Ban.objects.get()
    assert ban.banned_by_name == "boss"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target, entry.data["identifiers"]) == ("player.ban", "Mallory", ["license:mallory"])
