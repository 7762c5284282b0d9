"""ws_grant and ws_revoke."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

from accounts.models import IssuedToken
from accounts.services import load_principal
from realtime.api import generate_token
from tests.helpers import make_user

pytestmark = pytest.mark.django_db


def grant(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("ws_grant", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def grants(username: str) -> set[str]:
    return set(load_principal(username).grants)


def test_ws_grant_sets_exactly_the_given_grants(db):
    make_user("viewer", ["players.view", "jobs.view"])
    output = grant("viewer", "stats.view", "players.kick")
    assert grants("viewer") == {"stats.view", "players.kick"}
    assert "direct: players.kick stats.view" in output
    assert "effective: players.kick stats.view" in output


def test_ws_grant_leaves_group_grants_and_other_permissions_alone(db):
    user = make_user("mod", [])
    user.groups.add(Group.objects.get(name="Moderator"))
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    output = grant("mod", "stats.view")
    assert grants("mod") == {"players.view", "players.kick", "stats.view"}
    assert user.user_permissions.filter(codename="view_user").exists()
    assert "group Moderator: players.view players.kick" in output


def test_ws_grant_clear_and_list(db):
    make_user("viewer", ["players.view"])
    assert "effective: -" in grant("viewer", "--clear")
    assert grants("viewer") == set()
    assert grant("viewer", "--list").splitlines()[:2] == ["user: viewer", "direct: -"]


def test_ws_grant_create_makes_a_service_account_without_a_password(db):
    output = grant("bridge", "gameserver", "--create")
    bridge = get_user_model().objects.get(username="bridge")
    assert not bridge.has_usable_password() and not bridge.is_staff
    assert grants("bridge") == {"gameserver"}
    assert "created service account 'bridge'" in output
    assert generate_token("bridge", ["gameserver"])


def test_superusers_are_listed_with_admin(db):
    make_user("boss", superuser=True)
    output = grant("boss", "--list")
    assert "superuser: admin" in output and "effective: admin players.view" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ghost", "stats.view"], "no user named 'ghost' (--create makes a service account)"),
        (["viewer", "players.fly"], "unknown permission(s) players.fly"),
        (["viewer"], "give the permissions to grant, --clear or --list"),
        (["viewer", "stats.view", "--clear"], "give permissions or --clear, not both"),
    ],
)
def test_ws_grant_refuses_clearly(db, args, message):
    make_user("viewer", ["players.view"])
    with pytest.raises(CommandError) as error:
        grant(*args)
    assert message in str(error.value)
    assert grants("viewer") == {"players.view"}


def test_ws_revoke_by_id_and_by_user(db):
    make_user("viewer", ["stats.view"])
    for _ in range(3):
        generate_token("viewer", ["stats.view"])
    first = IssuedToken.objects.order_by("id").first()
    call_command("ws_revoke", first.jti)
    assert IssuedToken.objects.filter(revoked_at__isnull=False).count() == 1
    call_command("ws_revoke", "--user", "viewer")
    assert not IssuedToken.objects.filter(revoked_at__isnull=True).exists()
    with pytest.raises(CommandError, match="no issued token with id nope"):
        call_command("ws_revoke", "nope")
    with pytest.raises(CommandError, match="give token ids or --user"):
        call_command("ws_revoke")
