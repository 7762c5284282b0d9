"""The first superuser's printed password must be changed at the first sign-in (#21)."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def first_admin():
    out = io.StringIO()
    call_command("ensure_superuser", "--username", "admin", stdout=out)
    password = re.search(r"password: (\S+)", out.getvalue()).group(1)
    return get_user_model().objects.get(username="admin"), password


def sign_in(client: Client, url: str, password: str):
    return client.post(url, {"username": "admin", "password": password}, REMOTE_ADDR="10.9.0.1")


@pytest.mark.parametrize("login", ["webui:login", "admin:login"])
def test_the_first_sign_in_goes_to_the_password_change_before_anything_else(first_admin, login):
    _, password = first_admin
    client = Client()
    assert sign_in(client, reverse(login), password).status_code == 302
    change = reverse("webui:password-change")
    for path in ["/", "/players/", "/tokens/", "/admin/", "/admin/auth/user/"]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(change), path
    token = client.post(reverse("webui:session-token"))
    assert token.status_code == 403 and token.json()["code"] == "password_change_required"
    assert client.get(change).status_code == 200


def test_after_the_change_everything_opens(first_admin):
    user, password = first_admin
    client = Client()
    sign_in(client, reverse("webui:login"), password)
    new = "a-new-Long-passphrase-42"
    response = client.post(
        reverse("webui:password-change"),
        {"old_password": password, "new_password1": new, "new_password2": new, "next": "/admin/"},
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200  # still signed in, nothing in the way
    assert client.get("/").status_code == 200
    assert client.post(reverse("webui:session-token")).status_code == 200
    user.refresh_from_db()
    assert user.check_password(new)


def test_a_password_set_elsewhere_also_ends_the_requirement(first_admin):
    user, _ = first_admin
    user.set_password("set-by-changepassword-99")
    user.save()
    client = Client()
    client.force_login(user)
    assert client.get("/").status_code == 200


def test_other_users_are_not_asked(django_user_model):
    user = django_user_model.objects.create_superuser("second", "", "pw-second-Long-1")
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 200
