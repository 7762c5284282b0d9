"""Django admin: minting a token on a user's page, the token registry, grants and roles."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.db import connection
from django.urls import reverse

from accounts.models import IssuedToken
from accounts.services import authenticate
from realtime import tokens
from realtime.api import generate_token
from tests.helpers import make_user

pytestmark = pytest.mark.django_db

MINTED = re.compile(r'id="minted-token"[^>]*value="([^"]+)"')


def mint_url(user) -> str:
    return reverse("admin:auth_user_mint_token", args=[user.pk])


def django_permissions(*names: str) -> list[Permission]:
    """Django model permissions by "app_label.codename"."""
    found = []
    for name in names:
        app_label, codename = name.split(".", 1)
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def every_stored_text() -> list[str]:
    """Every text value in every table, and every session decoded."""
    texts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                texts += [v.decode(errors="replace") if isinstance(v, bytes) else v for v in row if isinstance(v, (str, bytes))]
    texts += [str(session.get_decoded()) for session in Session.objects.all()]
    return texts


@pytest.fixture
def root(db):
    return make_user("root", superuser=True, is_staff=True)


@pytest.fixture
def panel(db):
    return make_user("panel", ["players.view", "stats.view"])


def test_minting_in_admin_shows_the_token_once_and_stores_no_token_text(client, root, panel):
    client.force_login(root)
    page = client.get(reverse("admin:auth_user_change", args=[panel.pk])).content.decode()
    assert mint_url(panel) in page and "Mint token" in page

    form = client.get(mint_url(panel))
    assert form.status_code == 200
    assert 'value="players.view"' in form.content.decode() and 'value="stats.view"' in form.content.decode()
    assert not MINTED.search(form.content.decode())

    response = client.post(
        mint_url(panel), {"label": "web panel", "permissions": ["players.view"], "expiry": "24h"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    token = MINTED.search(html).group(1)
    assert html.count(token) == 1
    assert 'data-copy="minted-token"' in html and "realtime/mint-token.js" in html
    assert "<script>" not in html  # no inline script: the copy button is a static file

    payload = tokens.verify(token)
    assert payload["sub"] == "panel" and payload["permissions"] == ["players.view"]
    assert authenticate(payload).username == "panel"
    issued = IssuedToken.objects.get()
    assert (issued.jti, issued.label, issued.permissions, issued.issued_by) == (
        payload["jti"], "web panel", ["players.view"], root,
    )
    assert issued.expires_at - issued.issued_at == timedelta(hours=24)
    assert LogEntry.objects.filter(change_message__contains=payload["jti"]).exists()

    signature = token.rsplit(".", 1)[1]
    stored = every_stored_text()
    assert stored and not [text for text in stored if token in text or signature in text]

    again = client.get(mint_url(panel)).content.decode()
    assert token not in again and not MINTED.search(again)


def test_staff_mint_only_for_themselves_and_only_what_they_hold(client, db):
    # Issue 13 #2: this test used to let a staff member mint for another user; only
    # superusers may (a token of another user acts as them).
    root = make_user("root", superuser=True, is_staff=True)
    staff = make_user("mod", ["players.view"], is_staff=True)
    staff.user_permissions.add(*django_permissions("accounts.add_issuedtoken", "auth.view_user"))
    target = make_user("panel", ["players.view", "players.kick"])
    client.force_login(staff)

    for other in (target, root):
        assert client.get(mint_url(other)).status_code == 403
        post = client.post(mint_url(other), {"label": "x", "permissions": ["players.view"], "expiry": "365d"})
        assert post.status_code == 403
    assert not IssuedToken.objects.exists()

    html = client.get(mint_url(staff)).content.decode()
    assert 'value="players.view"' in html and 'value="players.kick"' not in html
    refused = client.post(mint_url(staff), {"label": "x", "permissions": ["players.kick"], "expiry": "1h"})
    assert not MINTED.search(refused.content.decode())
    assert "Select a valid choice" in refused.content.decode()
    assert not IssuedToken.objects.exists()

    minted = client.post(mint_url(staff), {"label": "x", "permissions": ["players.view"], "expiry": "1h"})
    payload = tokens.verify(MINTED.search(minted.content.decode()).group(1))
    assert payload["permissions"] == ["players.view"]
    assert IssuedToken.objects.get().issued_by == staff


def test_a_superuser_may_mint_gameserver_for_the_bridge_account(client, root):
    bridge = make_user("bridge", ["gameserver"])
    client.force_login(root)
    response = client.post(mint_url(bridge), {"label": "bridge", "permissions": ["gameserver"], "expiry": "30d"})
    assert tokens.verify(MINTED.search(response.content.decode()).group(1))["permissions"] == ["gameserver"]


def test_minting_needs_the_add_issued_token_permission(client, panel):
    staff = make_user("helper", ["players.view"], is_staff=True)
    staff.user_permissions.add(*django_permissions("auth.view_user"))
    client.force_login(staff)
    assert client.get(mint_url(panel)).status_code == 403
    assert client.post(mint_url(panel), {"label": "x", "permissions": ["players.view"], "expiry": "1h"}).status_code == 403
    assert "Mint token" not in client.get(reverse("admin:auth_user_change", args=[panel.pk])).content.decode()
    assert not IssuedToken.objects.exists()


@pytest.mark.parametrize(
    ("custom", "lifetime", "error"),
    [
        ("90m", timedelta(minutes=90), None),
        ("2w", timedelta(weeks=2), None),
        ("soon", None, "invalid duration"),
        ("400d", None, "longer than WS_MAX_TOKEN_LIFETIME"),
    ],
)
def test_custom_expiry(client, root, panel, custom, lifetime, error):
    client.force_login(root)
    response = client.post(
        mint_url(panel),
        {"label": "x", "permissions": ["stats.view"], "expiry": "custom", "custom_expiry": custom},
    )
    html = response.content.decode()
    if error:
        assert error in html and not MINTED.search(html) and not IssuedToken.objects.exists()
    else:
        issued = IssuedToken.objects.get()
        assert issued.expires_at - issued.issued_at == lifetime


def test_inactive_users_get_no_token(client, root):
    gone = make_user("gone", ["stats.view"], is_active=False)
    client.force_login(root)
    html = client.get(mint_url(gone)).content.decode()
    assert "is not an active user" in html
    response = client.post(mint_url(gone), {"label": "x", "permissions": ["stats.view"], "expiry": "1h"})
    assert not MINTED.search(response.content.decode()) and not IssuedToken.objects.exists()


# -- the registry -----------------------------------------------------------------------


def test_the_registry_is_listed_searchable_and_revocable_but_not_editable(client, root, panel):
    make_user("other", ["stats.view"])
    generate_token("panel", ["stats.view"], label="web panel")
    generate_token("other", ["stats.view"], label="ops script")
    client.force_login(root)
    changelist = reverse("admin:accounts_issuedtoken_changelist")

    listing = client.get(changelist).content.decode()
    assert "web panel" in listing and "ops script" in listing and "active" in listing
    found = client.get(changelist, {"q": "panel"}).content.decode()
    assert "web panel" in found and "ops script" not in found
    jti = IssuedToken.objects.get(label="ops script").jti
    assert "ops script" in client.get(changelist, {"q": jti}).content.decode()
    only_panel = client.get(changelist, {"user__id__exact": panel.pk}).content.decode()
    assert "web panel" in only_panel and "ops script" not in only_panel

    target = IssuedToken.objects.get(label="web panel")
    response = client.post(
        changelist, {"action": "revoke", "_selected_action": [target.pk]}, follow=True
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    target.refresh_from_db()
    assert target.revoked_by == root and target.revoked_at is not None
    assert IssuedToken.objects.get(label="ops script").revoked_at is None
    assert "revoked" in client.get(changelist, {"state": "revoked"}).content.decode()

    detail = client.get(reverse("admin:accounts_issuedtoken_change", args=[target.pk])).content.decode()
    assert target.jti in detail and 'name="_save"' not in detail  # read-only
    assert client.get(reverse("admin:accounts_issuedtoken_add")).status_code == 403
    assert client.get(reverse("admin:accounts_issuedtoken_delete", args=[target.pk])).status_code == 403
    assert "delete_selected" not in listing


# -- grants and roles -------------------------------------------------------------------


def test_socket_permissions_read_by_their_protocol_names_in_user_and_group_forms(client, root, panel):
    client.force_login(root)
    user_page = client.get(reverse("admin:auth_user_change", args=[panel.pk])).content.decode()
    assert "socket: players.view (View player list)" in user_page
    assert "socket: gameserver (Act as the game server&#x27;s bridge (not implied by admin))" in user_page
    assert "Effective socket permissions" in user_page
    group_page = client.get(reverse("admin:auth_group_add")).content.decode()
    assert "socket: players.kick (Kick players)" in group_page


def test_a_moderator_role_is_there_from_the_start(db):
    moderator = Group.objects.get(name="Moderator")
    assert sorted(moderator.permissions.values_list("codename", flat=True)) == ["players.kick", "players.view"]
    member = make_user("mod")
    member.groups.add(moderator)
    assert authenticate(tokens.verify(generate_token("mod", ["players.kick"])))
