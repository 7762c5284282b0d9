"""Django admin on the game's models follows the socket's grants (finding #16) and hides
players' ip: identifiers unless ``players.ip`` is held (finding #10, the admin side)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from game.models import AuditEntry, Ban, BanIdentifier, Job, Player, GameServer
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

IP = "ip:203.0.113.77"


def staff(username: str, grants: list[str] = (), models: list[str] = ()):
    user = make_user(username, grants, is_staff=True)
    for name in models:
        app_label, codename = name.split(".", 1)
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


@pytest.fixture
def world(db):
    server = GameServer.objects.create(slug="main", is_default=True)
    Player.objects.create(server=server, source=5, name="Nova42", license="license:abc",
                          identifiers={"license": "license:abc", "ip": IP})
    AuditEntry.objects.create(actor_name="root", action="player.kick", target=f"player 5 ({IP})",
                              data={"ip": IP}, outcome=AuditEntry.OK)
    ban = Ban.objects.create(name="Nova42", reason="cheating")
    BanIdentifier.objects.create(ban=ban, value="license:abc")
    BanIdentifier.objects.create(ban=ban, value=IP)
    Job.objects.create(name="police", label="Police")
    return ban


def test_django_model_permissions_alone_read_nothing(client, world):
    user = staff("viewer", models=["game.view_auditentry", "game.view_player", "game.view_ban",
                                   "game.change_ban", "game.view_job", "game.change_job"])
    client.force_login(user)
    for name in ("auditentry", "player", "ban", "job"):
        assert client.get(reverse(f"admin:game_{name}_changelist")).status_code == 403, name
    assert IP not in client.get(reverse("admin:index")).content.decode()


def test_audit_trail_needs_admin(client, world):
    client.force_login(staff("mod", ["players.view", "players.ban", "jobs.manage"]))
    assert client.get(reverse("admin:game_auditentry_changelist")).status_code == 403
    client.force_login(staff("boss", ["admin"]))
    assert IP in client.get(reverse("admin:game_auditentry_changelist")).content.decode()


def test_bans_view_with_bans_view_change_with_players_ban(client, world):
    client.force_login(staff("reader", ["bans.view"]))
    assert client.get(reverse("admin:game_ban_changelist")).status_code == 200
    assert client.get(reverse("admin:game_ban_add")).status_code == 403
    page = client.get(reverse("admin:game_ban_change", args=[world.pk]))
    assert page.status_code == 200 and 'name="reason"' not in page.content.decode()
    assert client.post(reverse("admin:game_ban_delete", args=[world.pk]), {"post": "yes"}).status_code == 403
    assert Ban.objects.filter(pk=world.pk).exists()

    client.force_login(staff("banner", ["players.ban"]))
    assert client.get(reverse("admin:game_ban_add")).status_code == 200
    assert 'name="reason"' in client.get(reverse("admin:game_ban_change", args=[world.pk])).content.decode()


def test_jobs_view_with_jobs_view_edit_with_jobs_manage(client, world):
    client.force_login(staff("jv", ["jobs.view"]))
    assert client.get(reverse("admin:game_job_changelist")).status_code == 200
    assert client.get(reverse("admin:game_job_add")).status_code == 403
    client.force_login(staff("jm", ["jobs.manage"]))
    assert client.get(reverse("admin:game_job_add")).status_code == 200


def test_players_are_read_only_with_players_view(client, world):
    client.force_login(staff("pv", ["players.view"]))
    assert client.get(reverse("admin:game_player_changelist")).status_code == 200
    assert client.get(reverse("admin:game_character_changelist")).status_code == 200
    assert client.get(reverse("admin:game_player_add")).status_code == 403
    assert client.post(reverse("admin:game_player_delete", args=[Player.objects.get(source=5).pk]), {"post": "yes"}).status_code == 403


def test_ip_identifiers_hidden_without_players_ip(client, world):
    client.force_login(staff("pv2", ["players.view", "bans.view"]))
    player = client.get(reverse("admin:game_player_change", args=[Player.objects.get(source=5).pk])).content.decode()
    assert "license:abc" in player and "203.0.113.77" not in player
    ban = client.get(reverse("admin:game_ban_change", args=[world.pk])).content.decode()
    assert "license:abc" in ban and "203.0.113.77" not in ban
    found = client.get(reverse("admin:game_ban_changelist"), {"q": "203.0.113"}).content.decode()
    assert "0 results" in found
    listed = client.get(reverse("admin:game_ban_changelist"), {"q": "license:abc"}).content.decode()
    assert "0 results" not in listed and "cheating" in listed

    client.force_login(staff("ipv", ["players.view", "bans.view", "players.ip"]))
    assert "203.0.113.77" in client.get(reverse("admin:game_player_change", args=[Player.objects.get(source=5).pk])).content.decode()
    assert "203.0.113.77" in client.get(reverse("admin:game_ban_change", args=[world.pk])).content.decode()
