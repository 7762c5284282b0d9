"""Envelope fuzzing over every registered event (the registry is read when the test runs,
so events added later are covered): the socket never fails with an internal error, every
answer carries the requestId it was given, refused requests change nothing in the database,
and the socket survives everything that is not a bad token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.apps import apps
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from realtime.registry import registry
from tests.helpers import Client, make_user, spec_token

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ = hypothesis_settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=16,
)
huge_strings = st.integers(min_value=1_000, max_value=300_000).map(lambda n: "é" * n)
deep = st.integers(min_value=50, max_value=5_000).map(lambda n: "[" * n + "]" * n)
# Valid request ids: no NUL (a requestId holding NUL is refused and not echoed, issue 13 #4).
request_ids = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
) | st.integers(min_value=-(2**53), max_value=2**53)


def payloads(event: str) -> st.SearchStrategy:
    """Random data, and objects with the event's own fields holding random values."""
    spec = registry.get(event)
    fields = sorted(spec.schema().fields) if spec and spec.schema else []
    shaped = (
        st.fixed_dictionaries({}, optional={f: json_values | huge_strings for f in fields})
        if fields else st.nothing()
    )
    return json_values | huge_strings | shaped


@st.composite
def envelopes(draw) -> tuple[str, Any, Any]:
    event = draw(st.sampled_from(sorted(registry.names())))
    return event, draw(payloads(event) | st.just(None)), draw(request_ids)


def snapshot() -> dict:
    """Every row of every table the platform manages."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


@pytest.fixture
def principals(db) -> dict[str, str | None]:
    make_user("viewer", ["stats.view", "players.view"])
    make_user("root", ["gameserver"], superuser=True)
    return {
        "anonymous": None,
        "viewer": spec_token("viewer", ["stats.view", "players.view"]),
        "root": spec_token("root", ["admin", "gameserver"]),
    }


async def connected(token: str | None) -> Client:
    client = Client()
    await client.open()
    if token:
        reply = await client.auth(token)
        assert reply["event"] == "authenticated", reply
    return client


# What a request may cause to be broadcast to every client, the sender included.
BROADCASTS = {
    "playerJoined", "playerLeft", "characterSelected", "characterUpdated", "playerKicked",
    "playerBanned", "playerUnbanned", "announcement", "jobsChanged", "gameServerStatus",
    "permissionsChanged",
}
# What follows a request to the bridge's own subscription (bridgeSync): its copy of the
# client list and its signing key, pushed after the reply.
BRIDGE_PUSHES = {"connectedClients", "signingKey"}


async def answer(client: Client, request_id: Any, pushes: set[str]) -> dict:
    """The frame answering ``request_id``; no error may come without it."""
    while True:
        frame = await client.recv(timeout=10)
        if "requestId" in frame:
            assert frame["requestId"] == request_id, frame
            return frame
        # Without a requestId only pushes may come: those the request itself caused
        # (broadcast, sendToClient), or broadcasts of a change it made (an accepted
        # serverSnapshot announces gameServerStatus); never an answer, never an error.
        assert frame["event"] in pushes or frame["event"] in BROADCASTS | BRIDGE_PUSHES, frame


async def still_serves(client: Client) -> None:
    await client.send({"event": "ping", "requestId": "alive"})
    pong = await answer(client, "alive", set())
    assert pong["event"] == "pong", pong


@FUZZ
@given(who=st.sampled_from(["anonymous", "viewer", "root"]), envelope=envelopes())
@example(who="root", envelope=("serverSnapshot", {}, "0"))  # broadcasts before it answers
async def test_every_event_survives_random_envelopes(principals, who, envelope):
    event, data, request_id = envelope
    client = await connected(principals[who])
    before = await database_sync_to_async(snapshot)()
    message = {"event": event, "requestId": request_id}
    if data is not None:
        message["data"] = data
    await client.send(json.dumps(message))
    pushed = data.get("event") if isinstance(data, dict) else None
    pushes = {pushed} if event in {"broadcast", "sendToClient"} and isinstance(pushed, str) else set()
    reply = await answer(client, request_id, pushes)
    if reply["event"] == "error":
        assert reply["data"]["code"] != "internal_error", reply
        assert await database_sync_to_async(snapshot)() == before, reply
        if reply["data"]["code"] == "invalid_token":
            await client.expect_close()
            return
    if who != "anonymous" or reply["event"] == "authenticated":
        await still_serves(client)
    await client.close()


@FUZZ
@given(envelope=json_values | deep | huge_strings, request_id=request_ids)
async def test_random_envelopes_get_answers_with_their_request_id(principals, envelope, request_id):
    client = await connected(principals["viewer"])
    if isinstance(envelope, dict):
        envelope = {**envelope, "requestId": request_id}
        text = json.dumps(envelope)
    elif isinstance(envelope, str) and envelope.startswith("["):
        text = json.dumps({"event": "ping", "requestId": request_id})[:-1] + ', "data": ' + envelope + "}"
    else:
        text = json.dumps({"event": envelope, "requestId": request_id})
    await client.send(text)
    reply = await answer(client, request_id, set())
    assert reply["data"] is None or reply["event"] != "error" or reply["data"]["code"] != "internal_error"
    await still_serves(client)
    await client.close()


@FUZZ
@given(frame=st.binary(max_size=2_000) | st.text(max_size=200))
async def test_binary_and_garbage_frames_get_an_error_and_the_socket_stays(principals, frame):
    client = await connected(principals["viewer"])
    kind = "bytes" if isinstance(frame, bytes) else "text"
    await client.comm.send_input({"type": "websocket.receive", kind: frame})  # empty ones too
    reply = await client.recv(timeout=10)
    assert reply["event"] in {"error", "pong"}, reply
    if reply["event"] == "error":
        assert reply["data"]["code"] in {"invalid_message", "unknown_event"}, reply
    await still_serves(client)
    await client.close()
