"""The web admin's pages through Django's test client: sign-in, what each user is offered,
the tokens page, and markup that a `default-src 'self'` Content Security Policy allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from accounts.models import IssuedToken
from realtime.tokens import verify
from tests.helpers import make_staff

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["dashboard", "players", "bans", "jobs", "announce", "tokens", "audit"]


def browser(user=None) -> HttpClient:
    client = HttpClient(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


def csrf_of(response) -> str:
    return str(response.context["csrf_token"])


@pytest.mark.parametrize("name", PAGES)
def test_pages_need_a_signed_in_user(name):
    response = browser().get(reverse(f"webui:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("webui:login") + "?next=")


def test_the_ui_is_at_the_site_root_and_django_admin_stays_at_admin():
    assert reverse("webui:dashboard") == "/"
    assert browser().get("/admin/").status_code == 302
    assert "/admin/login/" in browser().get("/admin/")["Location"]


def test_signing_in_with_the_login_form_lands_on_the_dashboard():
    make_staff("mod", ["players.view"])
    client = browser()
    csrf = csrf_of(client.get(reverse("webui:login")))
    response = client.post(
        reverse("webui:login"),
        {"username": "mod", "password": "pw-mod", "csrfmiddlewaretoken": csrf},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/"
    assert b"Dashboard" in response.content and b"mod" in response.content


def test_a_wrong_password_is_refused_with_a_message():
    make_staff("mod", ["players.view"])
    client = browser()
    csrf = csrf_of(client.get(reverse("webui:login")))
    response = client.post(
        reverse("webui:login"), {"username": "mod", "password": "nope", "csrfmiddlewaretoken": csrf}
    )
    assert response.status_code == 200
    assert b"correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_sign_out_is_a_post_and_ends_the_session():
    client = browser(make_staff("mod", ["players.view"]))
    csrf = csrf_of(client.get("/"))
    assert client.post(reverse("webui:logout"), {"csrfmiddlewaretoken": csrf}).status_code == 302
    assert client.get("/").status_code == 302


def nav_links(response) -> set[str]:
    return set(re.findall(r'class="nav-link[^"]*" ?[^>]*>([^<]+)</a>', response.content.decode()))


def test_the_navigation_offers_only_what_the_grants_allow():
    viewer = browser(make_staff("viewer", ["players.view"]))
    assert nav_links(viewer.get("/")) == {"Dashboard", "Players", "Tokens"}
    boss = browser(make_staff("boss", superuser=True))
    assert nav_links(boss.get("/")) == {
        "Dashboard", "Players", "Bans", "Jobs", "Announce", "Tokens", "Audit log", "Webhooks",
    }


@pytest.mark.parametrize(
    ("name", "permission"),
    [("players", "players.view"), ("bans", "players.ban"), ("jobs", "jobs.view"),
     ("announce", "announce"), ("audit", "admin")],
)
def test_a_page_without_its_permission_says_which_is_missing(name, permission):
    response = browser(make_staff("nobody")).get(reverse(f"webui:{name}"))
    assert response.status_code == 403
    assert f"<code>{permission}</code>".encode() in response.content


# -- the tokens page ---------------------------------------------------------------------


def test_minting_on_the_tokens_page_shows_the_token_once_within_the_users_grants():
    user = make_staff("mod", ["players.view", "players.kick"])
    client = browser(user)
    page = client.get(reverse("webui:tokens"))
    offered = set(re.findall(r'name="permissions" value="([^"]+)"', page.content.decode()))
    assert offered == {"players.view", "players.kick"}
    response = client.post(
        reverse("webui:tokens"),
        {"label": "discord bot", "permissions": ["players.view"], "expires": "7d",
         "csrfmiddlewaretoken": csrf_of(page)},
    )
    assert response.status_code == 200
    token = response.context["minted"]
    payload = verify(token)
    assert (payload["sub"], payload["permissions"]) == ("mod", ["players.view"])
    assert payload["exp"] - payload["iat"] == 7 * 86400
    assert token.encode() in response.content
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    issued = IssuedToken.objects.get(label="discord bot")
    assert issued.user == user and issued.permissions == ["players.view"]
    again = client.get(reverse("webui:tokens"))
    assert token.encode() not in again.content and b"discord bot" in again.content


def test_a_permission_not_held_cannot_be_minted():
    client = browser(make_staff("mod", ["players.view"]))
    csrf = csrf_of(client.get(reverse("webui:tokens")))
    response = client.post(
        reverse("webui:tokens"),
        {"label": "sneaky", "permissions": ["players.ban"], "expires": "1h", "csrfmiddlewaretoken": csrf},
    )
    assert response.status_code == 400
    assert b"players.ban is not one of the available choices" in response.content
    assert not IssuedToken.objects.exists()


def test_users_revoke_their_own_tokens_and_nobody_elses():
    from realtime import api

    mine = make_staff("mod", ["players.view"])
    other = make_staff("other", ["players.view"])
    api.generate_token("mod", ["players.view"], "1h", label="mine")
    api.generate_token("other", ["players.view"], "1h", label="theirs")
    client = browser(mine)
    csrf = csrf_of(client.get(reverse("webui:tokens")))
    theirs = IssuedToken.objects.get(user=other)
    url = reverse("webui:revoke-token", args=[theirs.pk])
    assert client.post(url, {"csrfmiddlewaretoken": csrf}).status_code == 404
    own = IssuedToken.objects.get(user=mine)
    response = client.post(
        reverse("webui:revoke-token", args=[own.pk]), {"csrfmiddlewaretoken": csrf}, follow=True
    )
    assert b"revoked" in response.content
    own.refresh_from_db()
    theirs.refresh_from_db()
    assert own.revoked_by == mine and own.revoked_at is not None
    assert theirs.revoked_at is None


# -- what a Content Security Policy of default-src 'self' allows ------------------------


@pytest.mark.parametrize("name", PAGES + ["login"])
def test_pages_have_no_inline_script_style_or_handler(name):
    client = browser() if name == "login" else browser(make_staff("boss", superuser=True))
    html = client.get(reverse(f"webui:{name}")).content.decode()
    for script in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in script or 'type="application/json"' in script, script
    assert not re.search(r"<style\b", html)
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "everything comes from the platform"


def test_static_files_fetch_nothing_from_elsewhere():
    for path in [*ROOT.joinpath("static").rglob("*.js"), *ROOT.joinpath("static").rglob("*.css")]:
        text = path.read_text()
        assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", text), path
        assert not re.search(r"""(from|import)\s*\(?\s*['"](https?:)?//""", text), path
        assert "innerHTML" not in text and "eval(" not in text, path


def test_the_web_admin_login_is_throttled_by_django_axes(settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_staff("mod", ["players.view"])
    client = browser()
    csrf = csrf_of(client.get(reverse("webui:login")))

    def attempt(password: str):  # noqa: ANN202
        return client.post(
            reverse("webui:login"), {"username": "mod", "password": password, "csrfmiddlewaretoken": csrf}
        )

    for _ in range(2):
        assert attempt("wrong").status_code == 200
    assert attempt("wrong").status_code == 429
    assert attempt("pw-mod").status_code == 429  # locked out even with the right password
    assert "_auth_user_id" not in client.session
