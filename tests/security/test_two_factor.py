"""Two-factor sign-in for staff (TOTP, django-otp; the TOTP half of #8).

A user with a confirmed device gives a code after the password, on the web admin's
/login/ and Django admin's /admin/login/ alike; until then no page, no Django admin page
and no /session-token/. Enrolment is a web admin page; WS_REQUIRE_2FA_SUPERUSERS sends a
superuser without a device there before anything else. Django test client, real views.
"""

from __future__ import annotations

import re
import time
from base64 import b32encode

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-staff-passphrase-7"
PAGES = ["/", "/players/", "/tokens/", "/admin/", "/admin/auth/user/"]


def code_for(device: TOTPDevice, later: int = 0) -> str:
    """The device's code now (``later`` steps away from now)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + later * device.step
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    """A code the device refuses: none of those within its tolerance."""
    right = {code_for(device, step) for step in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(10)) if c not in right)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("chief", "", PASSWORD)


@pytest.fixture
def enrolled(staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    return staff, device


def sign_in(client: Client, login: str = "webui:login", username: str = "chief"):
    response = client.post(reverse(login), {"username": username, "password": PASSWORD}, REMOTE_ADDR="10.9.1.1")
    assert response.status_code == 302, response.status_code
    return response


def assert_held_at(client: Client, page: str, code: str) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(reverse(page)), path
    token = client.post(reverse("webui:session-token"))
    assert token.status_code == 403 and token.json()["code"] == code


def assert_open(client: Client) -> None:
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert client.post(reverse("webui:session-token")).status_code == 200


@pytest.mark.parametrize("login", ["webui:login", "admin:login"])
def test_a_user_with_a_device_gives_a_code_after_the_password_at_both_logins(enrolled, login):
    _, device = enrolled
    client = Client()
    sign_in(client, login)
    assert_held_at(client, "webui:two-factor-verify", "two_factor_required")
    verify = reverse("webui:two-factor-verify")
    assert client.get(verify).status_code == 200
    response = client.post(verify, {"code": code_for(device), "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert_open(client)


def test_a_wrong_code_is_refused_and_then_throttled(enrolled):
    _, device = enrolled
    client = Client()
    sign_in(client)
    verify = reverse("webui:two-factor-verify")
    response = client.post(verify, {"code": wrong_code(device)})
    assert response.status_code == 400 and b"not right" in response.content
    assert client.post(verify, {"code": "not-a-code"}).status_code == 400
    # django-otp's throttling: right after a wrong code, even the right one is not checked.
    response = client.post(verify, {"code": code_for(device)})
    assert response.status_code == 400 and b"Too many wrong codes" in response.content
    assert_held_at(client, "webui:two-factor-verify", "two_factor_required")
    device.refresh_from_db()
    assert device.throttling_failure_count >= 1


def test_enrolment_confirms_a_device_with_a_right_code(staff):
    client = Client()
    sign_in(client)
    assert_open(client)  # no device, nothing required
    page = client.get(reverse("webui:two-factor"))
    assert page.status_code == 200
    secret = re.search(rb'data-testid="two-factor-secret">([A-Z2-7]+)<', page.content).group(1).decode()
    device = TOTPDevice.objects.get(user=staff)
    assert not device.confirmed
    assert secret == b32encode(device.bin_key).decode()
    assert b"otpauth://totp/" in page.content
    # Reloading keeps the same pending device (and secret).
    client.get(reverse("webui:two-factor"))
    assert TOTPDevice.objects.filter(user=staff).count() == 1
    response = client.post(reverse("webui:two-factor"), {"code": wrong_code(device)})
    assert response.status_code == 400
    device.refresh_from_db()
    assert not device.confirmed
    device.throttle_reset()
    response = client.post(reverse("webui:two-factor"), {"code": code_for(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert_open(client)  # the enrolling session gave a code
    other = Client()
    sign_in(other, "admin:login")
    assert_held_at(other, "webui:two-factor-verify", "two_factor_required")


def test_removing_the_device_needs_the_password(enrolled):
    staff, device = enrolled
    client = Client()
    sign_in(client)
    client.post(reverse("webui:two-factor-verify"), {"code": code_for(device)})
    remove = reverse("webui:two-factor-remove")
    client.post(remove, {"password": "wrong"}, REMOTE_ADDR="10.9.1.1")
    assert TOTPDevice.objects.filter(user=staff).exists()
    client.post(remove, {"password": PASSWORD}, REMOTE_ADDR="10.9.1.1")
    assert not TOTPDevice.objects.filter(user=staff).exists()
    fresh = Client()
    sign_in(fresh)
    assert_open(fresh)


def test_an_unverified_session_cannot_reach_enrolment_or_removal(enrolled):
    staff, _ = enrolled
    client = Client()
    sign_in(client)
    response = client.get(reverse("webui:two-factor"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("webui:two-factor-verify"))
    client.post(reverse("webui:two-factor-remove"), {"password": PASSWORD}, REMOTE_ADDR="10.9.1.1")
    assert TOTPDevice.objects.filter(user=staff).exists()


def test_the_owner_can_require_two_factor_of_superusers(settings, staff, django_user_model):
    settings.WS_REQUIRE_2FA_SUPERUSERS = True
    client = Client()
    sign_in(client, "admin:login")
    assert_held_at(client, "webui:two-factor", "two_factor_enrolment_required")
    assert client.get(reverse("webui:two-factor")).status_code == 200
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    response = client.post(reverse("webui:two-factor"), {"code": code_for(device), "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert_open(client)
    # Other staff are not asked.
    django_user_model.objects.create_user("mod", "", PASSWORD, is_staff=True)
    other = Client()
    sign_in(other, username="mod")
    assert other.get("/").status_code == 200


def test_superusers_are_not_required_to_enrol_by_default(staff):
    client = Client()
    sign_in(client)
    assert_open(client)


def test_django_admin_shows_devices_to_superusers_only_and_never_their_key(enrolled, django_user_model):
    from django.contrib.auth.models import Permission

    _, device = enrolled
    change = reverse("admin:otp_totp_totpdevice_change", args=[device.pk])
    staff = django_user_model.objects.create_user("mod", "", PASSWORD, is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="otp_totp"))
    other = Client()
    other.force_login(staff)
    assert other.get(change).status_code in (302, 403)
    assert other.get(reverse("admin:otp_totp_totpdevice_changelist")).status_code in (302, 403)
    chief = Client()
    sign_in(chief)
    chief.post(reverse("webui:two-factor-verify"), {"code": code_for(device)})
    page = chief.get(change)
    assert page.status_code == 200 and device.key.encode() not in page.content
    assert chief.get(reverse("admin:otp_totp_totpdevice_config", args=[device.pk])).status_code == 403
