"""Tokens: minting within grants, the registry, what auth accepts, and what auth costs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from accounts.models import IssuedToken
from accounts.services import authenticate, note_token_used
from accounts.tokens import revoke_tokens
from realtime import tokens
from realtime.api import TokenRequestError, generate_token
from tests.accounts.support import socket_permissions
from tests.helpers import make_user, spec_token

pytestmark = pytest.mark.django_db


def claims(token: str) -> dict:
    return tokens.verify(token)


@pytest.fixture
def viewer(db):
    return make_user("viewer", ["players.view", "stats.view"])


def test_generate_token_registers_the_claims_never_the_text(viewer):
    token = generate_token("viewer", ["players.view"], "7d", label="panel")
    payload = claims(token)
    issued = IssuedToken.objects.get()
    assert issued.jti == payload["jti"] and issued.user == viewer
    assert issued.label == "panel" and issued.permissions == ["players.view"]
    assert issued.expires_at - issued.issued_at == timedelta(days=7)
    assert issued.last_used_at is None and issued.revoked_at is None
    assert token not in str(IssuedToken.objects.values().get())


@pytest.mark.parametrize(
    ("sub", "permissions", "message"),
    [
        ("viewer", ["players.kick"], "'viewer' does not hold: players.kick"),
        ("viewer", ["admin"], "'viewer' does not hold: admin, "),
        ("ghost", ["players.view"], "no active user named 'ghost'"),
        ("viewer", ["players.fly"], "unknown permission(s) 'players.fly'"),
    ],
)
def test_generate_token_refuses_what_the_subject_does_not_hold(viewer, sub, permissions, message):
    with pytest.raises(TokenRequestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        generate_token(sub, permissions, "1h")
    assert not IssuedToken.objects.exists()


def test_generate_token_refuses_inactive_users(db):
    make_user("gone", ["stats.view"], is_active=False)
    with pytest.raises(TokenRequestError, match="no active user named 'gone'"):
        generate_token("gone", ["stats.view"])


def test_ws_token_registers_what_it_mints_and_refuses_what_is_not_held(viewer, capsys):
    call_command("ws_token", "viewer", "--permissions", "stats.view", "--label", "ci", "--expires", "15m")
    token = capsys.readouterr().out.strip()
    assert IssuedToken.objects.get().jti == claims(token)["jti"]
    assert IssuedToken.objects.get().label == "ci"
    with pytest.raises(CommandError, match="does not hold: players.ban"):
        call_command("ws_token", "viewer", "--permissions", "players.ban")


def test_registered_tokens_are_accepted_until_revoked(viewer):
    payload = claims(generate_token("viewer", ["stats.view"]))
    assert authenticate(payload, fresh=True).username == "viewer"
    revoke_tokens(IssuedToken.objects.all())
    assert authenticate(payload, fresh=True) is None


def test_a_registered_token_id_under_another_subject_is_refused(viewer):
    make_user("other", ["stats.view"])
    payload = claims(generate_token("viewer", ["stats.view"]))
    forged = claims(spec_token("other", ["stats.view"], jti=payload["jti"]))
    assert authenticate(forged) is None


def test_tokens_minted_outside_the_platform_work_within_grants_unless_registration_is_required(viewer):
    outside = claims(spec_token("viewer", ["stats.view"]))
    outside_with_jti = claims(spec_token("viewer", ["stats.view"], jti=uuid.uuid4().hex))
    registered = claims(generate_token("viewer", ["stats.view"]))
    assert authenticate(outside) and authenticate(outside_with_jti) and authenticate(registered)
    with override_settings(WS_REQUIRE_REGISTERED_TOKENS=True):
        assert authenticate(outside) is None
        assert authenticate(outside_with_jti) is None
        assert authenticate(registered).username == "viewer"


def test_unknown_and_inactive_subjects_are_refused(db):
    make_user("gone", ["stats.view"], is_active=False)
    assert authenticate(claims(spec_token("gone", ["stats.view"]))) is None
    assert authenticate(claims(spec_token("nobody", ["stats.view"]))) is None


# -- what auth costs ------------------------------------------------------------------


def test_auth_costs_one_query_cold_and_none_warm(viewer, django_assert_num_queries):
    payload = claims(spec_token("viewer", ["stats.view"]))
    with django_assert_num_queries(1):
        assert authenticate(payload).grants == {"players.view", "stats.view"}
    with django_assert_num_queries(0):
        assert authenticate(payload).grants == {"players.view", "stats.view"}


def test_a_registered_token_costs_one_query_cold_and_none_warm(viewer, django_assert_num_queries):
    first = claims(generate_token("viewer", ["stats.view"]))
    second = claims(generate_token("viewer", ["stats.view"]))
    with django_assert_num_queries(1):  # grants and registry state in one query
        assert authenticate(first)
    with django_assert_num_queries(0):
        assert authenticate(first)
    with django_assert_num_queries(1):  # grants cached, this token's state not yet
        assert authenticate(second)
    with django_assert_num_queries(1):
        assert authenticate(claims(spec_token("nobody", []))) is None
    with django_assert_num_queries(0):  # unknown subjects are cached too
        assert authenticate(claims(spec_token("nobody", []))) is None


def test_a_committed_change_is_seen_by_the_next_auth(viewer, django_capture_on_commit_callbacks):
    payload = claims(spec_token("viewer", ["stats.view", "players.view"]))
    assert authenticate(payload).grants == {"players.view", "stats.view"}
    with django_capture_on_commit_callbacks(execute=True):
        viewer.user_permissions.remove(*socket_permissions("stats.view"))
    assert authenticate(payload).grants == {"players.view"}
    with django_capture_on_commit_callbacks(execute=True):
        viewer.is_active = False
        viewer.save()
    assert authenticate(payload) is None


def test_a_revocation_is_seen_by_the_next_auth_even_when_cached(viewer, django_capture_on_commit_callbacks):
    payload = claims(generate_token("viewer", ["stats.view"]))
    assert authenticate(payload)
    with django_capture_on_commit_callbacks(execute=True):
        revoke_tokens(IssuedToken.objects.all())
    assert authenticate(payload) is None


@override_settings(WS_ACCESS_CACHE_TTL=0)
def test_the_cache_can_be_turned_off(viewer, django_assert_num_queries):
    payload = claims(spec_token("viewer", ["stats.view"]))
    for _ in range(2):
        with django_assert_num_queries(1):
            authenticate(payload)


def test_last_used_is_stamped_at_most_once_per_interval(viewer, django_assert_num_queries):
    first = claims(generate_token("viewer", ["stats.view"]))["jti"]
    second = claims(generate_token("viewer", ["stats.view"]))["jti"]
    with django_assert_num_queries(1):
        assert note_token_used(first) is True
    with django_assert_num_queries(0):
        assert note_token_used(first) is False
    assert note_token_used(second) is True
    stamped = IssuedToken.objects.get(jti=first).last_used_at
    assert stamped is not None and timezone.now() - stamped < timedelta(seconds=5)


def test_revoke_tokens_records_who_and_when_and_skips_revoked_ones(viewer):
    staff = make_user("staff", [])
    generate_token("viewer", ["stats.view"])
    generate_token("viewer", ["players.view"])
    assert revoke_tokens(IssuedToken.objects.all(), by=staff) == 2
    assert revoke_tokens(IssuedToken.objects.all(), by=None) == 0
    for issued in IssuedToken.objects.all():
        assert issued.revoked_by == staff and issued.revoked_at is not None
