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


def go_stale(user) -> None:  # noqa: ANN001
    """Leave the user's page tokens less than half their lifetime: the next request mints."""
    from datetime import timedelta

    from django.utils import timezone

    IssuedToken.objects.filter(user=user).update(expires_at=timezone.now() + timedelta(minutes=1))


def test_logout_revokes_every_page_token_of_that_session_and_no_other(settings):
    settings.WEBUI_SESSION_TOKEN_RATE = "0"
    user = make_staff("mod", ["players.view"])
    browser, csrf = signed_in(user)
    other, other_csrf = signed_in(user)
    for _ in range(250):
        assert browser.post(URL, HTTP_X_CSRFTOKEN=csrf).status_code == 200
        go_stale(user)
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

    user = make_staff("mod", ["players.view"])
    browser, csrf = signed_in(user)
    for _ in range(20):
        assert browser.post(URL, HTTP_X_CSRFTOKEN=csrf).status_code == 200
        go_stale(user)
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


def test_a_still_fresh_page_token_is_answered_again_not_minted_anew():
    from realtime.tokens import verify

    user = make_staff("mod", ["players.view"])
    browser, csrf = signed_in(user)
    first = browser.post(URL, HTTP_X_CSRFTOKEN=csrf).json()
    for _ in range(10):  # page loads and reconnects
        again = browser.post(URL, HTTP_X_CSRFTOKEN=csrf).json()
        assert verify(again["token"])["jti"] == verify(first["token"])["jti"]
        assert again["expiresAt"] == first["expiresAt"] and again["permissions"] == first["permissions"]
    assert IssuedToken.objects.count() == 1
    # The token answered again is the registered one: revoking its row ends it too.
    assert verify(again["token"])["sub"] == "mod"

    # Another session of the same user gets its own (logout of one ends only its tokens).
    other, other_csrf = signed_in(user)
    assert verify(other.post(URL, HTTP_X_CSRFTOKEN=other_csrf).json()["token"])["jti"] != verify(first["token"])["jti"]

    # New grants: a new token carrying them, not the old one.
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="stats.view"))
    changed = browser.post(URL, HTTP_X_CSRFTOKEN=csrf).json()
    assert changed["permissions"] == ["players.view", "stats.view"]
    assert verify(changed["token"])["jti"] != verify(first["token"])["jti"]

    # Past half its lifetime: a new one, so a page never holds a token about to expire.
    go_stale(user)
    fresh = browser.post(URL, HTTP_X_CSRFTOKEN=csrf).json()
    assert verify(fresh["token"])["jti"] != verify(changed["token"])["jti"]
    assert IssuedToken.objects.get(jti=verify(fresh["token"])["jti"]).expires_at.timestamp() == fresh["expiresAt"]


def test_a_revoked_page_token_is_not_answered_again():
    from accounts.tokens import revoke_tokens
    from realtime.tokens import verify

    user = make_staff("mod", ["players.view"])
    browser, csrf = signed_in(user)
    first = verify(browser.post(URL, HTTP_X_CSRFTOKEN=csrf).json()["token"])["jti"]
    revoke_tokens(IssuedToken.objects.filter(jti=first), reason="test")
    assert verify(browser.post(URL, HTTP_X_CSRFTOKEN=csrf).json()["token"])["jti"] != first


def test_session_token_requests_are_rate_limited_per_user(settings):
    settings.WEBUI_SESSION_TOKEN_RATE = "5/1m"
    user = make_staff("mod", ["players.view"])
    browser, csrf = signed_in(user)
    other, other_csrf = signed_in(user)  # the same user in another browser shares the limit
    for i in range(5):
        client, token = (browser, csrf) if i % 2 else (other, other_csrf)
        assert client.post(URL, HTTP_X_CSRFTOKEN=token).status_code == 200
    refused = browser.post(URL, HTTP_X_CSRFTOKEN=csrf)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Another user is not affected.
    third, third_csrf = signed_in(make_staff("other", ["players.view"]))
    assert third.post(URL, HTTP_X_CSRFTOKEN=third_csrf).status_code == 200


@pytest.mark.live
def test_a_running_server_purges_long_expired_registry_rows_by_itself(platform):
    import time

    from websockets.sync.client import connect

    server = platform.start(WS_TOKEN_PURGE_INTERVAL="0.5", WS_TOKEN_PURGE_AFTER="1d")
    socket = connect(server.url)  # the process's hub (and its tasks) start with its first socket
    socket.recv(timeout=5)
    platform.shell(
        "from datetime import timedelta; from django.utils import timezone; "
        "from accounts.models import IssuedToken; from tests.helpers import make_user; "
        "u = make_user('mod'); now = timezone.now(); "
        "[IssuedToken.objects.create(jti=j, user=u, issued_at=now - timedelta(days=9), expires_at=now - ago) "
        " for j, ago in (('old', timedelta(days=2)), ('recent', timedelta(hours=1)), ('live', -timedelta(hours=1)))]"
    )
    left = "print(sorted(IssuedToken.objects.values_list('jti', flat=True)))"
    code = f"from accounts.models import IssuedToken; {left}"
    deadline = time.monotonic() + 20
    while "'old'" in platform.shell(code):
        assert time.monotonic() < deadline, "the server never purged the expired row"
    assert platform.shell(code).strip().splitlines()[-1] == "['live', 'recent']"
    socket.close()
