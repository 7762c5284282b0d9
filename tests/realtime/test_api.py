"""The spec's exports as a Python API and management commands."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import jwt
import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.models import IssuedToken
from realtime import api
from realtime.tokens import parse_duration
from tests.helpers import Client, authed_client, make_user, spec_part, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("24h", 86400), ("7d", 604800), ("2w", 1209600), ("90", 90), (45, 45)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "soon", "-5m", "0", "1y", "5 hours", True, None, -3])
def test_bad_durations_are_clear_errors(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_generate_token_has_the_spec_payload_and_is_registered():
    make_user("ops", ["players.view", "stats.view"])
    token = api.generate_token("ops", ["players.view"], "15m", label="dash")
    claims = jwt.decode(token, settings.WS_JWT_SECRET, algorithms=["HS256"], audience="fivem-platform")
    assert claims["sub"] == "ops" and claims["permissions"] == ["players.view"]
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]
    assert claims["aud"] == "fivem-platform"  # an added claim; the spec's four are all there
    issued = IssuedToken.objects.get(jti=claims["jti"])
    assert issued.label == "dash" and issued.permissions == ["players.view"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


@pytest.mark.parametrize(
    ("sub", "permissions", "expires", "message"),
    [
        ("ops", ["players.kick"], "1h", "'ops' does not hold: players.kick"),
        ("ops", ["admin"], "1h", "'ops' does not hold: admin, players.kick"),
        ("ops", ["fly"], "1h", "unknown permission(s) 'fly'"),
        ("nobody", ["players.view"], "1h", "no active user named 'nobody'"),
        ("ops", ["players.view"], "forever", "invalid duration 'forever'"),
        ("ops", "players.view", "1h", "permissions must be a list"),
    ],
)
def test_generate_token_refusals(sub, permissions, expires, message):
    make_user("ops", ["players.view"])
    with pytest.raises(api.TokenRequestError) as error:
        api.generate_token(sub, permissions, expires)
    assert message in str(error.value)
    assert not IssuedToken.objects.exists()


def test_ws_token_prints_only_the_token():
    make_user("ops", ["players.view", "stats.view"])
    out = StringIO()
    call_command("ws_token", "ops", "--permissions", "players.view,stats.view", "--expires", "24h", stdout=out)
    token = out.getvalue().strip()
    assert "\n" not in token
    claims = jwt.decode(token, settings.WS_JWT_SECRET, algorithms=["HS256"], audience="fivem-platform")
    assert claims["permissions"] == ["players.view", "stats.view"]
    with pytest.raises(CommandError, match="does not hold"):
        call_command("ws_token", "ops", "--permissions", "announce", stdout=StringIO())


async def test_minted_token_authenticates():
    await database_sync_to_async(make_user)("ops", ["players.view"])
    token = await api.agenerate_token("ops", ["players.view"], "1h")
    client = await authed_client(token)
    await client.close()


async def test_broadcast_reaches_every_authenticated_client_only():
    await database_sync_to_async(make_user)("ops", ["players.view"])
    one = await authed_client(spec_token("ops", ["players.view"]))
    two = await authed_client(spec_token("ops", ["players.view"]))
    anonymous = Client()
    await anonymous.open()

    await api.abroadcast("customEvent", {"message": "Something happened!", "timestamp": 1})
    expected = {"event": "customEvent", "data": {"message": "Something happened!", "timestamp": 1}}
    assert spec_part(await one.recv()) == expected
    assert spec_part(await two.recv()) == expected
    assert await anonymous.nothing(0.3)
    for c in (one, two, anonymous):
        await c.close()


async def test_send_to_client_and_connected_clients():
    await database_sync_to_async(make_user)("ops", ["players.view"])
    one = await authed_client(spec_token("ops", ["players.view"]))
    two = await authed_client(spec_token("ops", ["players.view"]))
    anonymous = Client()
    await anonymous.open()

    assert sorted(await api.aget_connected_clients()) == sorted([one.client_id, two.client_id])
    assert await api.asend_to_client(two.client_id, "direct", {"x": 1}) is True
    assert await two.recv() == {"event": "direct", "data": {"x": 1}}
    assert await one.nothing(0.2)
    assert await api.asend_to_client(anonymous.client_id, "direct", {}) is False
    assert await api.asend_to_client("nope", "direct", {}) is False

    await one.close()
    assert await api.aget_connected_clients() == [two.client_id]
    await two.close()
    await anonymous.close()


@pytest.mark.parametrize("name", ["tokenExpired", "permissionsChanged", "error", "playerBanned"])
async def test_python_exports_refuse_reserved_event_names(name):
    await database_sync_to_async(make_user)("ops", ["players.view"])
    client = await authed_client(spec_token("ops", ["players.view"]))
    with pytest.raises(ValueError, match="platform's own events"):
        await api.asend_to_client(client.client_id, name, {})
    with pytest.raises(ValueError, match="platform's own events"):
        await database_sync_to_async(api.broadcast)(name, {})
    assert await client.nothing(0.2)
    await client.close()
