"""Findings #11/#12: the web admin's page tokens are tied to the login session that asked
for them (a hash of its key on the registry row, never the key) and logout revokes every
one of them, however many, and none of another session's."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from accounts.models import IssuedToken
from tests.helpers import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/session-token/"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signed_in(user) -> tuple[HttpClient, str]:
    client = HttpClient(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(reverse("webui:dashboard"))
    assert page.status_code == 200
    return client, str(page.context["csrf_token"])


def test_logout_revokes_every_page_token_of_that_session_and_no_other(settings):
    user = make_staff("mod", ["players.view"])
    browser, csrf = signed_in(user)
    other, other_csrf = signed_in(user)
    for _ in range(250):
        assert browser.post(URL, HTTP_X_CSRFTOKEN=csrf).status_code == 200
    assert other.post(URL, HTTP_X_CSRFTOKEN=other_csrf).status_code == 200
    key = browser.session.session_key
    rows = IssuedToken.objects.filter(user=user)
    assert all(key not in row.session_hash for row in rows)
    assert len({row.session_hash for row in rows}) == 2

    assert browser.post(reverse("webui:logout"), HTTP_X_CSRFTOKEN=csrf).status_code == 302
    assert rows.filter(revoked_at__isnull=False).count() == 250
    assert rows.filter(revoked_at__isnull=True).count() == 1


def test_page_tokens_are_kept_out_of_the_audit_trail():
    from game.models import AuditEntry

    browser, csrf = signed_in(make_staff("mod", ["players.view"]))
    for _ in range(20):
        assert browser.post(URL, HTTP_X_CSRFTOKEN=csrf).status_code == 200
    assert IssuedToken.objects.count() == 20
    assert not AuditEntry.objects.filter(action="token.mint").exists()


def test_ws_purge_tokens_deletes_rows_expired_long_ago_and_keeps_the_rest():
    from datetime import timedelta
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    user = make_staff("mod", ["players.view"])
    now = timezone.now()
    for jti, expired_ago in (("old", timedelta(days=8)), ("recent", timedelta(days=1)), ("live", -timedelta(hours=1))):
        IssuedToken.objects.create(jti=jti, user=user, issued_at=now - timedelta(days=30),
                                   expires_at=now - expired_ago)
    out = StringIO()
    call_command("ws_purge_tokens", "--older-than", "7d", stdout=out)
    assert out.getvalue().strip() == "purged 1 expired token(s)"
    assert sorted(IssuedToken.objects.values_list("jti", flat=True)) == ["live", "recent"]
