"""The spec's socket protocol, driven through project.asgi.application."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import override_settings

from realtime import protocol
from tests.helpers import Client, amake_user, authed_client, make_user, spec_token

pytestmark = pytest.mark.django_db(transaction=True)


async def new_client() -> Client:
    client = Client()
    await client.open()
    return client


@pytest.fixture
def viewer(db):
    return make_user("viewer", ["players.view", "stats.view"])


async def test_connect_says_connected_with_a_client_id():
    client = Client()
    hello = await client.open()
    assert hello == {"event": "connected", "data": {"clientId": client.client_id}}
    assert len(client.client_id) == 36
    await client.close()


async def test_spec_token_authenticates_with_its_permissions(viewer):
    client = await new_client()
    reply = await client.auth(spec_token("viewer", ["players.view", "stats.view"]))
    assert reply == {
        "event": "authenticated",
        "data": {"clientId": client.client_id, "permissions": ["players.view", "stats.view"]},
    }
    await client.close()


async def test_effective_permissions_are_token_and_grants_intersected(viewer):
    client = await new_client()
    reply = await client.auth(spec_token("viewer", ["stats.view", "players.kick", "nonsense"]))
    assert reply["data"]["permissions"] == ["stats.view"]
    await client.close()


async def test_admin_implies_every_permission_but_gameserver(db):
    await amake_user("boss", superuser=True)
    client = await new_client()
    reply = await client.auth(spec_token("boss", ["admin"]))
    assert reply["data"]["permissions"] == [
        "admin", "players.view", "players.kick", "players.ban", "stats.view",
        "jobs.view", "jobs.manage", "announce", "bans.view", "players.ip",
    ]
    pong = await client.request("ping", request_id="p1")
    assert pong["event"] == "pong" and pong["requestId"] == "p1"
    await client.close()


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: spec_token("viewer", ["players.view"], lifetime=-120), id="expired"),
        pytest.param(lambda: spec_token("viewer", ["players.view"], secret="x" * 40), id="other-secret"),
        pytest.param(lambda: spec_token("ghost", ["players.view"]), id="unknown-subject"),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
        pytest.param(lambda: spec_token("viewer", ["players.view"], algorithm="HS512"), id="hs512"),
        pytest.param(lambda: tamper(spec_token("viewer", ["players.view"])), id="tampered"),
        pytest.param(lambda: alg_none(), id="alg-none"),
    ],
)
async def test_invalid_tokens_get_invalid_token_and_a_close(viewer, make_token):
    client = await new_client()
    reply = await client.request("auth", {"token": make_token()}, request_id="a1")
    assert reply == {
        "event": "error",
        "data": {"message": "Invalid token", "code": "invalid_token"},
        "requestId": "a1",
    }
    assert await client.expect_close() == protocol.CLOSE_INVALID_TOKEN


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["permissions"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def alg_none() -> str:
    enc = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc({'sub': 'viewer', 'permissions': ['admin'], 'exp': 9999999999})}."


async def test_inactive_user_is_refused(db):
    await amake_user("gone", ["players.view"], is_active=False)
    client = await new_client()
    reply = await client.auth(spec_token("gone", ["players.view"]))
    assert reply["data"]["code"] == "invalid_token"
    assert await client.expect_close() == protocol.CLOSE_INVALID_TOKEN


@pytest.mark.parametrize(
    ("frame", "code", "message"),
    [
        ("{not json", "invalid_message", "Invalid JSON"),
        ("[1, 2]", "invalid_message", "A message must be a JSON object {event, data?, requestId?}"),
        ('"hello"', "invalid_message", "A message must be a JSON object {event, data?, requestId?}"),
        ('{"data": {}}', "invalid_message", "'event' must be a non-empty string"),
        ('{"event": 5}', "invalid_message", "'event' must be a non-empty string"),
        ('{"event": "nope"}', "unknown_event", "Unknown event: nope"),
        ('{"event": "__init__"}', "unknown_event", "Unknown event: __init__"),
    ],
)
async def test_bad_frames_get_clear_errors_and_the_socket_stays(viewer, frame, code, message):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    await client.send(frame)
    reply = await client.recv()
    assert reply["event"] == "error"
    assert reply["data"] == {"message": message, "code": code}
    pong = await client.request("ping", request_id="still-here")
    assert pong["event"] == "pong" and pong["requestId"] == "still-here"
    await client.close()


async def test_errors_echo_the_request_id(viewer):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    reply = await client.request("nope", request_id="r-7")
    assert reply["requestId"] == "r-7" and reply["data"]["code"] == "unknown_event"
    reply = await client.request("auth", {"token": 5}, request_id=42)
    assert reply["requestId"] == 42 and reply["data"]["code"] == "invalid_payload"
    assert "token" in reply["data"]["message"]
    await client.close()


async def test_wrong_request_id_type_is_refused_and_not_echoed(viewer):
    # An invalid requestId is never echoed (issue 13 #4): it may be what cannot be sent.
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    reply = await client.request("ping", request_id={"x": 1})
    assert reply["data"]["code"] == "invalid_message"
    assert "requestId" not in reply
    await client.close()


async def test_requests_before_auth_are_refused_and_the_socket_stays(viewer):
    client = await new_client()
    reply = await client.request("ping", request_id="early")
    assert reply == {
        "event": "error",
        "data": {"message": "Not authenticated", "code": "not_authenticated"},
        "requestId": "early",
    }
    assert (await client.auth(spec_token("viewer", ["stats.view"])))["event"] == "authenticated"
    await client.close()


async def test_missing_permission_is_refused_before_the_handler(viewer):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    reply = await client.request("getConnectedClients", request_id="g")
    assert reply["data"] == {
        "message": "Permission denied: getConnectedClients requires gameserver",
        "code": "permission_denied",
    }
    assert reply["requestId"] == "g"
    await client.close()


@override_settings(WS_MAX_FRAME_BYTES=1024)
async def test_oversized_frames_are_refused_and_the_socket_stays(viewer):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    await client.send(json.dumps({"event": "ping", "data": {"pad": "x" * 2000}}))
    reply = await client.recv()
    assert reply["data"]["code"] == "frame_too_large"
    assert (await client.request("ping"))["event"] == "pong"
    await client.close()


async def test_binary_frames_are_refused(viewer):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    await client.comm.send_to(bytes_data=b"\x00\x01")
    reply = await client.recv()
    assert reply["data"]["code"] == "invalid_message"
    assert (await client.request("ping"))["event"] == "pong"
    await client.close()


@override_settings(WS_AUTH_TIMEOUT=0.3)
async def test_unauthenticated_sockets_are_closed_after_the_auth_timeout():
    client = await new_client()
    error = await client.recv(timeout=2)
    assert error["data"] == {"message": "Authentication timed out", "code": "not_authenticated"}
    assert await client.expect_close() == protocol.CLOSE_AUTH_TIMEOUT


@override_settings(WS_AUTH_TIMEOUT=0.3)
async def test_auth_cancels_the_auth_timeout(viewer):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    assert await client.nothing(0.6)
    await client.close()


async def test_reauth_keeps_the_socket_and_client_id(viewer):
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    reply = await client.auth(spec_token("viewer", ["players.view"]))
    assert reply["data"] == {"clientId": client.client_id, "permissions": ["players.view"]}
    await client.close()


async def test_reauth_as_another_subject_is_refused(viewer):
    await amake_user("other", ["stats.view"])
    client = await authed_client(spec_token("viewer", ["stats.view"]))
    reply = await client.auth(spec_token("other", ["stats.view"]))
    assert reply["data"]["code"] == "permission_denied"
    assert (await client.request("ping"))["event"] == "pong"
    await client.close()
