"""The web admin's socket-token endpoint: session and CSRF required, minted within grants."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client as HttpClient
from django.urls import reverse

from accounts.models import IssuedToken
from realtime.tokens import verify
from tests.helpers import Client, make_staff
from webui.session import session_hash

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/session-token/"


def signed_in(user, *, csrf: bool = True) -> tuple[HttpClient, str]:
    """A browser-like client (CSRF enforced) signed in as ``user``, and its CSRF token."""
    client = HttpClient(enforce_csrf_checks=csrf)
    client.force_login(user)
    page = client.get(reverse("webui:dashboard"))
    assert page.status_code == 200
    return client, str(page.context["csrf_token"])


def test_the_endpoint_is_where_the_pages_look_for_it():
    assert reverse("webui:session-token") == URL


def test_a_post_without_the_csrf_token_is_refused_and_mints_nothing():
    user = make_staff("mod", ["players.view"])
    client, _ = signed_in(user)
    response = client.post(URL)
    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert not IssuedToken.objects.exists()


def test_a_post_with_a_wrong_csrf_token_is_refused():
    client, _ = signed_in(make_staff("mod", ["players.view"]))
    response = client.post(URL, HTTP_X_CSRFTOKEN="x" * 64)
    assert response.status_code == 403
    assert not IssuedToken.objects.exists()


def test_without_a_session_there_is_no_token():
    client = HttpClient(enforce_csrf_checks=True)
    csrf = str(client.get(reverse("webui:login")).context["csrf_token"])
    response = client.post(URL, HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not IssuedToken.objects.exists()


def test_get_is_not_allowed():
    client, _ = signed_in(make_staff("mod", ["players.view"]))
    assert client.get(URL).status_code == 405


def test_mints_a_short_lived_registered_token_with_the_users_grants(settings):
    settings.WEBUI_TOKEN_LIFETIME = "10m"
    user = make_staff("mod", ["players.view", "players.kick"])
    client, csrf = signed_in(user)
    response = client.post(URL, HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    body = response.json()
    payload = verify(body["token"])
    assert payload["sub"] == "mod"
    assert payload["permissions"] == ["players.view", "players.kick"] == body["permissions"]
    assert payload["exp"] - payload["iat"] == 600 and body["expiresAt"] == payload["exp"]
    issued = IssuedToken.objects.get()
    assert (issued.jti, issued.user, issued.issued_by, issued.label) == (payload["jti"], user, user, "web admin")
    # The registry keeps claims, never the token text.
    assert body["token"] not in repr(list(IssuedToken.objects.values()))
    # Tied to the login session by a hash of its key (never the key itself).
    assert issued.session_hash == session_hash(client.session.session_key) != client.session.session_key


def test_a_superuser_gets_admin_but_never_the_gameserver_grant():
    boss = make_staff("boss", ["gameserver"], superuser=True)
    client, csrf = signed_in(boss)
    permissions = verify(client.post(URL, HTTP_X_CSRFTOKEN=csrf).json()["token"])["permissions"]
    assert "admin" in permissions and "players.kick" in permissions
    assert "gameserver" not in permissions


def test_a_user_without_grants_gets_a_token_that_can_do_nothing():
    client, csrf = signed_in(make_staff("nobody"))
    body = client.post(URL, HTTP_X_CSRFTOKEN=csrf).json()
    assert body["permissions"] == [] and verify(body["token"])["permissions"] == []


def test_a_deactivated_users_session_gets_no_token():
    user = make_staff("gone", ["players.view"])
    client, csrf = signed_in(user)
    user.is_active = False
    user.save()
    response = client.post(URL, HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 401
    assert not IssuedToken.objects.exists()


async def test_the_token_authenticates_on_the_socket_with_exactly_those_permissions():
    def mint() -> str:
        client, csrf = signed_in(make_staff("mod", ["players.view", "stats.view"]))
        return client.post(URL, HTTP_X_CSRFTOKEN=csrf).json()["token"]

    token = await sync_to_async(mint)()
    socket = Client()
    await socket.open()
    reply = await socket.auth(token)
    assert reply["event"] == "authenticated"
    assert reply["data"]["permissions"] == ["players.view", "stats.view"]
    denied = await socket.request("kickPlayer", {"source": 1, "reason": "x"}, request_id="k")
    assert denied["event"] == "error" and denied["data"]["code"] in {"permission_denied", "unknown_event"}
    await socket.close()


async def test_signing_out_revokes_the_tokens_the_pages_got():
    def mint_then_sign_out() -> str:
        client, csrf = signed_in(make_staff("mod", ["players.view"]))
        token = client.post(URL, HTTP_X_CSRFTOKEN=csrf).json()["token"]
        assert client.post(reverse("webui:logout"), HTTP_X_CSRFTOKEN=csrf).status_code == 302
        return token

    token = await sync_to_async(mint_then_sign_out)()
    assert await IssuedToken.objects.filter(revoked_at__isnull=False).acount() == 1
    socket = Client()
    await socket.open()
    reply = await socket.auth(token)
    assert reply["event"] == "error" and reply["data"]["code"] == "invalid_token"
