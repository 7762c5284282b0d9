"""Staff log into the admin with Django's authentication; failures are throttled (django-axes)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from tests.helpers import make_user

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
LIMIT = settings.AXES_FAILURE_LIMIT
ADDRESS_LIMIT = settings.AXES_ADDRESS_FAILURE_LIMIT


def login(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address
    )


@pytest.fixture
def staff(db):
    return make_user("staff", is_staff=True)


def test_staff_log_in_with_their_password(client, staff):
    response = login(client, "staff", "pw-staff")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_failed_logins_lock_the_pair_never_the_username_alone(client, staff):
    """Five wrong passwords for the admin's name from another address lock that address
    out for that name; the admin's right password from their own address still works."""
    for attempt in range(LIMIT - 1):
        assert login(client, "staff", "wrong", address="10.0.1.1").status_code == 200
    assert login(client, "staff", "wrong", address="10.0.1.1").status_code == 429  # the limit
    locked = login(client, "staff", "pw-staff", address="10.0.1.1")
    assert locked.status_code == 429
    assert "too many login attempts" in locked.content.decode()
    assert login(client, "staff", "pw-staff", address="10.0.2.1").status_code == 302


def test_failures_spread_over_addresses_do_not_lock_the_username(client, staff):
    for attempt in range(3 * LIMIT):
        assert login(client, "staff", "wrong", address=f"10.0.5.{attempt}").status_code == 200
    assert login(client, "staff", "pw-staff", address="10.0.6.1").status_code == 302


def test_failed_logins_lock_the_address_out_for_any_username(client, staff):
    make_user("other", is_staff=True)
    for attempt in range(ADDRESS_LIMIT - 1):
        assert login(client, f"guess{attempt}", "wrong", address="10.0.3.1").status_code == 200
    assert login(client, "guess-last", "wrong", address="10.0.3.1").status_code == 429
    assert login(client, "other", "pw-other", address="10.0.3.1").status_code == 429
    # Another address: unaffected.
    assert login(client, "staff", "pw-staff", address="10.0.4.1").status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, staff):
    for _ in range(LIMIT - 1):
        login(client, "staff", "wrong")
    assert login(client, "staff", "pw-staff").status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):
        assert login(client, "staff", "wrong").status_code == 200
    assert login(client, "staff", "pw-staff").status_code == 302
