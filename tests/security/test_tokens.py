"""Hostile tokens: every one is refused with "Invalid token" and the socket is closed."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from channels.db import database_sync_to_async
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import IssuedToken
from realtime import protocol
from tests.helpers import Client, amake_user, authed_client, spec_token

pytestmark = pytest.mark.django_db(transaction=True)

INVALID = {"event": "error", "data": {"message": "Invalid token", "code": "invalid_token"},
           "requestId": "hostile"}


def b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {"sub": "viewer", "permissions": ["stats.view"], "iat": now, "exp": now + 3600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def signed(payload: dict, secret: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, secret or settings.WS_JWT_SECRET, algorithm=algorithm)


def alg_none() -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(permissions=['admin']))}."


def rs256() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims(permissions=["admin"]), key, algorithm="RS256")


def tampered() -> str:
    header, _, signature = signed(claims()).split(".")
    return f"{header}.{b64(claims(permissions=['admin']))}.{signature}"


def leeway_past() -> int:
    return int(time.time()) + settings.WS_TOKEN_LEEWAY + 60


def simplejwt(kind):  # noqa: ANN001, ANN201
    """A simplejwt refresh/access token for viewer, signed with our own key and claims."""
    user = get_user_model().objects.get(username="viewer")
    token = kind.for_user(user)
    token["permissions"] = ["stats.view"]
    return str(token)


HOSTILE = {
    "alg-none": alg_none,
    "alg-none-uppercase": lambda: f"{b64({'alg': 'NONE'})}.{b64(claims())}.",
    "hs512": lambda: signed(claims(), algorithm="HS512"),
    "rs256": rs256,
    "other-secret": lambda: signed(claims(), secret="another-secret-of-at-least-32-chars!!"),
    "tampered-payload": tampered,
    "signature-stripped": lambda: signed(claims()).rsplit(".", 1)[0] + ".",
    "expired": lambda: signed(claims(exp=int(time.time()) - settings.WS_TOKEN_LEEWAY - 60)),
    "nbf-in-the-future": lambda: signed(claims(nbf=leeway_past())),
    "iat-in-the-future": lambda: signed(claims(iat=leeway_past())),
    "no-exp": lambda: signed(claims(exp=...)),
    "exp-not-a-number": lambda: signed(claims(exp="tomorrow")),
    "refresh-token": lambda: simplejwt(RefreshToken),
    "access-token-of-another-app": lambda: simplejwt(AccessToken),
    "other-token-type": lambda: signed(claims(token_type="password_reset")),
    "permissions-a-string": lambda: signed(claims(permissions="admin")),
    "permissions-an-object": lambda: signed(claims(permissions={"admin": True})),
    "permissions-not-strings": lambda: signed(claims(permissions=[1, None])),
    "no-subject": lambda: signed(claims(sub=...)),
    "subject-not-a-string": lambda: signed(claims(sub=1)),
    "unknown-subject": lambda: signed(claims(sub="ghost")),
    "inactive-subject": lambda: signed(claims(sub="retired")),
    "jti-not-a-string": lambda: signed(claims(jti=5)),
    # Another service sharing the secret: its tokens name their own audience.
    "another-audience": lambda: signed(claims(aud="billing-service")),
    "audience-list-without-us": lambda: signed(claims(aud=["billing-service", "forum"])),
    "audience-not-a-string": lambda: signed(claims(aud=7)),
    "not-a-jwt": lambda: "not.a.jwt",
}


@pytest.fixture
async def people(db):
    await amake_user("viewer", ["stats.view"])
    await amake_user("retired", ["stats.view"], is_active=False)


async def refused(token: str) -> None:
    client = Client()
    await client.open()
    reply = await client.request("auth", {"token": token}, request_id="hostile")
    assert reply == INVALID
    assert await client.expect_close() == protocol.CLOSE_INVALID_TOKEN


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_tokens_are_refused_and_the_socket_closed(people, name):
    token = await database_sync_to_async(HOSTILE[name])()
    await refused(token)


@pytest.mark.parametrize("aud", [..., "fivem-platform", ["forum", "fivem-platform"]])
async def test_tokens_without_an_audience_or_naming_ours_are_accepted(people, aud):
    # The spec's payload has no aud; our own minted tokens name WS_JWT_AUDIENCE.
    client = await authed_client(await database_sync_to_async(signed)(claims(aud=aud)))
    await client.close()


async def test_minted_tokens_name_the_platforms_audience(people):
    from realtime import tokens

    payload = tokens.verify(str(tokens.mint("viewer", ["stats.view"], "1h")))
    assert payload["aud"] == settings.WS_JWT_AUDIENCE == "fivem-platform"


async def issue(jti: str, username: str, *, revoked: bool) -> None:
    def create() -> None:
        now = datetime.now(timezone.utc)
        IssuedToken.objects.create(
            jti=jti, user=get_user_model().objects.get(username=username),
            permissions=["stats.view"], issued_at=now, expires_at=now + timedelta(hours=1),
            revoked_at=now if revoked else None,
        )

    await database_sync_to_async(create)()


async def test_a_revoked_token_is_refused(people):
    await issue("revoked-1", "viewer", revoked=True)
    await refused(signed(claims(jti="revoked-1")))
    # The same claims with a live registry entry are accepted: the refusal is the revocation.
    await issue("live-1", "viewer", revoked=False)
    client = await authed_client(signed(claims(jti="live-1")))
    await client.close()


async def test_a_token_id_registered_to_another_user_is_refused(people):
    await amake_user("other", ["stats.view"])
    await issue("others-1", "other", revoked=False)
    await refused(signed(claims(jti="others-1")))


async def test_clock_skew_within_the_leeway_is_accepted(people):
    skew = settings.WS_TOKEN_LEEWAY // 2
    now = int(time.time())
    for token in (
        signed(claims(iat=now + skew, nbf=now + skew)),
        signed(claims(exp=now - skew)),
        spec_token("viewer", ["stats.view"]),
    ):
        client = await authed_client(token)
        await client.close()


async def test_a_hostile_token_on_an_authenticated_socket_closes_it(people):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    reply = await client.request("auth", {"token": alg_none()}, request_id="hostile")
    assert reply == INVALID
    assert await client.expect_close() == protocol.CLOSE_INVALID_TOKEN


@pytest.mark.parametrize(
    "bad",
    [{"exp": "9999999999"}, {"exp": 1e308}, {"exp": True}, {"iat": "now"}, {"iat": 1e308},
     {"nbf": 1e308}, {"nbf": "soon"}, {"exp": -1e308}],
)
async def test_signed_tokens_with_bad_time_claims_are_invalid_tokens(bad):
    """Issue 13 #19: never internal_error or a traceback, always Invalid token (4001)."""
    await amake_user("viewer", ["stats.view"])
    client = Client()
    await client.open()
    reply = await client.request("auth", {"token": signed(claims(**bad))}, request_id="hostile")
    assert reply == INVALID
    assert await client.expect_close() == protocol.CLOSE_INVALID_TOKEN
