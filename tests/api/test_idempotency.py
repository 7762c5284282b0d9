"""Idempotency-Key (HTTP) and idempotencyKey (socket): a retried command is answered with
the first result and not carried out twice, in one process or several."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from game.models import AuditEntry, Ban
from tests.api.support import call
from tests.game.support import simulated
from tests.helpers import spec_token
from tests.live import token as live_token

BAN = {"identifiers": {"license": "license:retry"}, "name": "Retry", "reason": "r", "duration": "1h"}


@pytest.mark.django_db(transaction=True)
async def test_a_retried_ban_is_answered_with_the_first_result(people):
    token = spec_token("boss", ["admin"])
    first = await call("POST", "/api/v1/bans", token, BAN, headers={"Idempotency-Key": "ban-1"})
    again = await call("POST", "/api/v1/bans", token, BAN, headers={"Idempotency-Key": "ban-1"})
    assert first.status == again.status == 200
    assert again.json == first.json
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert await Ban.objects.acount() == 1
    assert await AuditEntry.objects.filter(action="player.ban").acount() == 1
    # Without a key, or with another one, it is a new request.
    assert (await call("POST", "/api/v1/bans", token, BAN, headers={"Idempotency-Key": "ban-2"})).status == 200
    assert await Ban.objects.acount() == 2


@pytest.mark.django_db(transaction=True)
async def test_a_key_is_for_one_request_and_one_user(people):
    token = spec_token("boss", ["admin"])
    assert (await call("POST", "/api/v1/bans", token, BAN, headers={"Idempotency-Key": "k"})).status == 200
    other = await call("POST", "/api/v1/bans", token, {**BAN, "reason": "other"}, headers={"Idempotency-Key": "k"})
    assert (other.status, other.code) == (422, "invalid_payload")
    assert "was used for another request" in other.json["data"]["message"]
    bad = await call("POST", "/api/v1/bans", token, BAN, headers={"Idempotency-Key": "has space"})
    assert (bad.status, bad.code) == (422, "invalid_payload")
    assert await Ban.objects.acount() == 1


@pytest.mark.django_db(transaction=True)
async def test_a_failed_command_releases_its_key(people):
    token = spec_token("boss", ["admin"])
    offline = await call("POST", "/api/v1/players/1/kick", token, {"reason": "x"}, headers={"Idempotency-Key": "kick-1"})
    assert (offline.status, offline.code) == (503, "game_server_offline")
    game = await simulated()
    try:
        source = next(iter(game.world.online))
        done = await call("POST", f"/api/v1/players/{source}/kick", token, {"reason": "x"},
                          headers={"Idempotency-Key": "kick-2"})
        assert done.status == 200
        # The player is gone: without the key a second kick would be not_found.
        again = await call("POST", f"/api/v1/players/{source}/kick", token, {"reason": "x"},
                           headers={"Idempotency-Key": "kick-2"})
        assert (again.status, again.json) == (200, done.json)
        assert await AuditEntry.objects.filter(action="player.kick", outcome="ok").acount() == 1
    finally:
        await game.stop()


@pytest.mark.django_db(transaction=True)
async def test_the_socket_takes_idempotency_key_beside_request_id(admin, game):
    source = next(iter(game.world.online))
    frame = {"event": "kickPlayer", "data": {"source": source, "reason": "x"}, "requestId": "a", "idempotencyKey": "s-1"}
    await admin.send(frame)
    first = await admin.expect("success")
    await admin.send({**frame, "requestId": "b"})
    second = await admin.expect("success")
    assert first["data"] == second["data"] and second["requestId"] == "b"
    assert game.printed("kicked") and len(game.printed("kicked")) == 1
    # The same key over HTTP, by the same user: the same first answer.
    http = await call("POST", f"/api/v1/players/{source}/kick", spec_token("boss", ["admin"]), {"reason": "x"},
                      headers={"Idempotency-Key": "s-1"})
    assert http.json == {"event": "success", "data": first["data"]}


def _post(url: str, token: str, body: dict, key: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, json.loads(error.read())


def test_across_server_processes(platform):
    platform.shell("from tests.helpers import make_user; make_user('boss', superuser=True)")
    one, two = platform.start("uvicorn"), platform.start("uvicorn")
    token = live_token(platform, "boss", ["admin"])
    first = _post(f"{one.http}/api/v1/bans", token, BAN, "across-1")
    second = _post(f"{two.http}/api/v1/bans", token, BAN, "across-1")
    assert first[0] == second[0] == 200, (first, second)
    assert second[2] == first[2] and second[1].get("idempotent-replayed") == "true"
    count = platform.shell("from game.models import Ban; print(Ban.objects.count())").strip().splitlines()[-1]
    assert count == "1"


@pytest.mark.django_db(transaction=True)
async def test_a_concurrent_retry_is_not_carried_out_twice(people, bridge):
    """The hand-driven bridge holds the first kick unanswered: its retry meanwhile is 409."""
    import asyncio

    from tests.game.support import send_snapshot

    player = {"source": 7, "name": "Held", "identifiers": {"license": "license:held"}}
    await send_snapshot(bridge, [player])
    token = spec_token("boss", ["admin"])
    first = asyncio.ensure_future(call("POST", "/api/v1/players/7/kick", token, {"reason": "x"},
                                       headers={"Idempotency-Key": "held"}))
    command = await bridge.expect("kickPlayer")  # the platform waits for the bridge now
    retry = await call("POST", "/api/v1/players/7/kick", token, {"reason": "x"}, headers={"Idempotency-Key": "held"})
    assert (retry.status, retry.code) == (409, "conflict")
    await bridge.send({"event": "commandResult", "requestId": command["requestId"], "data": {"ok": True, "message": "kicked"}})
    done = await first
    assert done.status == 200, done.body
    replay = await call("POST", "/api/v1/players/7/kick", token, {"reason": "x"}, headers={"Idempotency-Key": "held"})
    assert replay.json == done.json and replay.headers["idempotent-replayed"] == "true"
    assert await AuditEntry.objects.filter(action="player.kick").acount() == 1
