"""The web admin is for staff (issue 13 #3): an active account without ``is_staff`` cannot
sign in, gets no page token, and is signed out if it loses the flag mid-session."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from accounts.models import IssuedToken
from tests.helpers import make_staff, make_user

pytestmark = pytest.mark.django_db


def sign_in(client: HttpClient, username: str):
    return client.post(reverse("webui:login"), {"username": username, "password": f"pw-{username}"},
                       REMOTE_ADDR="10.0.0.9")


def test_an_account_that_is_not_staff_cannot_sign_in_to_the_web_admin():
    make_user("player", ["players.view"])
    client = HttpClient()
    response = sign_in(client, "player")
    assert response.status_code == 200  # the form again, with Django admin's staff message
    assert "for a staff account" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # ...so no page token: the endpoint answers as to anyone not signed in.
    assert client.post(reverse("webui:session-token")).status_code in (401, 403)
    assert IssuedToken.objects.count() == 0


def test_staff_sign_in_as_before():
    make_staff("mod", ["players.view"])
    client = HttpClient()
    assert sign_in(client, "mod").status_code == 302
    assert client.get(reverse("webui:dashboard")).status_code == 200


def test_a_signed_in_user_who_stops_being_staff_is_signed_out_and_gets_no_token():
    user = make_staff("mod", ["players.view"])
    client = HttpClient()
    client.force_login(user)
    assert client.post(reverse("webui:session-token")).status_code == 200
    user.is_staff = False
    user.save()

    refused = client.post(reverse("webui:session-token"))
    assert refused.status_code == 403 and refused.json()["code"] == "not_staff"
    page = client.get(reverse("webui:players"))
    assert page.status_code == 302 and page.url.startswith(reverse("webui:login"))
    assert "_auth_user_id" not in client.session  # signed out...
    assert not IssuedToken.objects.filter(revoked_at__isnull=True).exists()  # ...its page tokens revoked
    login_page = client.get(page.url)
    assert "The web admin is for staff accounts" in login_page.content.decode()


def test_django_admin_and_the_socket_are_unchanged_for_non_staff():
    # Non-staff accounts still hold socket tokens (bots, dashboards); only the web admin's
    # pages are for staff, and Django admin keeps its own rule.
    user = make_user("bot", ["players.view"])
    client = HttpClient()
    client.force_login(user)
    assert client.get("/admin/").status_code == 302
