"""The HTTP API (/api/v1/): the registry's events over HTTP, through the real ASGI app."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.models import IssuedToken
from accounts.tokens import revoke_tokens
from game.models import AuditEntry, Ban
from realtime import httpapi
from realtime.api import agenerate_token
from realtime.protocol import ERROR_CODES
from realtime.registry import registry
from realtime.tokens import verify
from tests.api.support import call
from tests.game.support import ask, game_client
from tests.helpers import spec_part, spec_token

pytestmark = pytest.mark.django_db(transaction=True)

VIEWER = ["players.view", "stats.view", "jobs.view", "bans.view"]


def test_every_error_code_has_its_http_status():
    missing = sorted(set(ERROR_CODES) - set(httpapi.STATUS))
    assert not missing, f"httpapi.STATUS has no status for {missing}"
    assert httpapi.STATUS["permission_denied"] == 403
    assert httpapi.STATUS["not_found"] == 404
    assert httpapi.STATUS["invalid_payload"] == 422
    assert httpapi.STATUS["rate_limited"] == 429
    assert httpapi.STATUS["game_server_offline"] == 503


def test_every_client_event_is_an_operation():
    operated = {op.spec.name for op in httpapi.operations()}
    for spec in registry.all():
        if spec.http is False or not spec.auth:
            assert spec.name not in operated
        else:
            assert spec.name in operated, f"{spec.name} is not on the HTTP API"
    assert {"auth", "serverSnapshot", "playerJoined"}.isdisjoint(operated)


async def test_no_token_is_401_with_a_bearer_challenge(people):
    answer = await call("GET", "/api/v1/players")
    assert answer.status == 401
    assert answer.code == "not_authenticated"
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nope", "Basic dXNlcjpwdw==", "Bearer a b"])
async def test_a_bad_authorization_is_401_invalid_token(people, header):
    answer = await call("GET", "/api/v1/players", headers={"Authorization": header})
    assert (answer.status, answer.code) == (401, "invalid_token")


async def test_an_expired_or_foreign_token_is_refused(people):
    assert (await call("GET", "/api/v1/stats", spec_token("viewer", VIEWER, lifetime=-120))).status == 401
    assert (await call("GET", "/api/v1/stats", spec_token("viewer", VIEWER, secret="x" * 40))).status == 401
    assert (await call("GET", "/api/v1/stats", spec_token("nobody", VIEWER))).status == 401


async def test_a_revoked_token_stops_working_at_once(people):
    token = await agenerate_token("viewer", ["stats.view"], "1h")
    assert (await call("GET", "/api/v1/stats", token)).status == 200
    from asgiref.sync import sync_to_async

    await sync_to_async(revoke_tokens)(IssuedToken.objects.filter(jti=verify(token)["jti"]))
    answer = await call("GET", "/api/v1/stats", token)
    assert (answer.status, answer.code) == (401, "invalid_token")


async def test_reads_answer_the_sockets_reply(viewer, game):
    answer = await call("GET", "/api/v1/players", spec_token("viewer", VIEWER))
    assert answer.status == 200
    socket = await ask(viewer, "getPlayers")
    assert answer.json == {"event": "players", "data": socket["data"]}
    assert len(answer.json["data"]["players"]) == 2
    stats = await call("GET", "/api/v1/stats", spec_token("viewer", VIEWER))
    assert stats.json["event"] == "stats" and stats.json["data"]["online"] is True


async def test_permission_is_checked_before_the_handler(people, game):
    target = next(iter(game.world.online))
    answer = await call("POST", f"/api/v1/players/{target}/kick", spec_token("viewer", VIEWER), {"reason": "x"})
    assert answer.status == 403
    assert answer.json["data"] == {"message": "Permission denied: kickPlayer requires players.kick",
                                   "code": "permission_denied"}
    assert target in game.world.online
    assert not await AuditEntry.objects.filter(action="player.kick").aexists()


async def test_token_permissions_bound_the_users_grants(people):
    # boss is a superuser, but this token carries stats.view only.
    answer = await call("GET", "/api/v1/players", spec_token("boss", ["stats.view"]))
    assert (answer.status, answer.code) == (403, "permission_denied")


async def test_kick_over_http_is_carried_out_audited_and_broadcast(viewer, game):
    target = next(iter(game.world.online.values()))
    token = await agenerate_token("boss", ["players.kick"], "1h")
    answer = await call("POST", f"/api/v1/players/{target.source}/kick", token, {"reason": "Cheating"})
    assert answer.status == 200, answer.body
    assert answer.json == {"event": "success", "data": {"message": f"Player {target.source} kicked"}}
    assert spec_part(await viewer.expect("playerKicked")) == {
        "event": "playerKicked", "data": {"source": target.source, "reason": "Cheating", "server": "main"}}
    assert target.source not in game.world.online
    entry = await AuditEntry.objects.aget(action="player.kick")
    assert (entry.actor_name, entry.outcome, entry.token_jti) == ("boss", "ok", verify(token)["jti"])


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/v1/players/abc/kick", {"reason": "x"}, "Invalid kickPlayer: source: Must be a whole number."),
        ("/api/v1/players/5/kick", {}, "Invalid kickPlayer: reason: This field is required."),
        ("/api/v1/players/5/kick", {"source": 6, "reason": "x"}, "source is given in the path and, differently, in the body"),
        ("/api/v1/players/5/kick", [1], "The body of kickPlayer must be a JSON object"),
    ],
)
async def test_bad_payloads_are_422_with_the_sockets_message(people, path, body, message):
    answer = await call("POST", path, spec_token("boss", ["admin"]), body)
    assert answer.status == 422
    assert answer.json["data"]["code"] == "invalid_payload"
    assert answer.json["data"]["message"] == message


async def test_malformed_json_is_400_and_other_media_415(people):
    token = spec_token("boss", ["admin"])
    answer = await call("POST", "/api/v1/announcements", token, raw=b"{nope", headers={"Content-Type": "application/json"})
    assert (answer.status, answer.code) == (400, "invalid_message")
    answer = await call("POST", "/api/v1/announcements", token, raw=b'{"message": NaN}',
                        headers={"Content-Type": "application/json"})
    assert (answer.status, answer.code) == (400, "invalid_message")
    answer = await call("POST", "/api/v1/announcements", token, raw=b"message=hi",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (answer.status, answer.code) == (415, "unsupported_media_type")


async def test_unknown_paths_and_methods(people):
    token = spec_token("boss", ["admin"])
    answer = await call("GET", "/api/v1/nothing-here", token)
    assert (answer.status, answer.code) == (404, "unknown_event")
    answer = await call("DELETE", "/api/v1/players", token)
    assert (answer.status, answer.code) == (405, "method_not_allowed")
    assert answer.headers["allow"] == "GET"


async def test_a_command_while_the_game_server_is_offline_is_503(people):
    answer = await call("POST", "/api/v1/players/3/kick", spec_token("boss", ["admin"]), {"reason": "x"})
    assert (answer.status, answer.code) == (503, "game_server_offline")


async def test_an_unknown_player_is_404(people, game):
    answer = await call("POST", "/api/v1/players/999/kick", spec_token("boss", ["admin"]), {"reason": "x"})
    assert (answer.status, answer.code) == (404, "not_found")


async def test_commands_are_rate_limited_with_retry_after(people):
    with override_settings(WS_RATE_COMMAND="1/30s"):
        httpapi.limiters.limiters.clear()
        token = spec_token("boss", ["admin"])
        body = {"identifiers": {"license": "license:abc"}, "reason": "x", "duration": "1h"}
        first = await call("POST", "/api/v1/bans", token, body)
        assert first.status == 200, first.body
        second = await call("POST", "/api/v1/bans", token, body)
        assert (second.status, second.code) == (429, "rate_limited")
        assert 1 <= int(second.headers["retry-after"]) <= 30
    httpapi.limiters.limiters.clear()
    assert await Ban.objects.acount() == 1


async def test_bans_with_query_parameters(people):
    token = spec_token("boss", ["admin"])
    for name in ("Alice", "Bob"):
        body = {"identifiers": {"license": f"license:{name}"}, "name": name, "reason": "r", "duration": "1h"}
        assert (await call("POST", "/api/v1/bans", token, body)).status == 200
    answer = await call("GET", "/api/v1/bans", token, query={"search": "ali"})
    assert [b["name"] for b in answer.json["data"]["bans"]] == ["Alice"]
    answer = await call("GET", "/api/v1/bans", token, query={"limit": "1", "active": "false"})
    assert len(answer.json["data"]["bans"]) == 1
    answer = await call("GET", "/api/v1/bans", token, query={"limit": "lots"})
    assert (answer.status, answer.code) == (422, "invalid_payload")
    ban_id = answer_id = (await call("GET", "/api/v1/bans", token)).json["data"]["bans"][0]["id"]
    lifted = await call("POST", f"/api/v1/bans/{ban_id}/unban", token)
    assert lifted.status == 200 and lifted.json["data"]["ban"]["id"] == answer_id
    assert (await call("POST", "/api/v1/bans/99999/unban", token)).status == 404


async def test_jobs_resource(people):
    token = spec_token("boss", ["admin"])
    created = await call("POST", "/api/v1/jobs", token, {"name": "police", "label": "Police"})
    assert created.status == 200, created.body
    assert (await call("PATCH", "/api/v1/jobs/police", token, {"label": "LSPD"})).status == 200
    jobs = await call("GET", "/api/v1/jobs", spec_token("viewer", VIEWER))
    assert [j["label"] for j in jobs.json["data"]["jobs"]] == ["LSPD"]
    assert (await call("DELETE", "/api/v1/jobs/police", token)).status == 200
    assert (await call("DELETE", "/api/v1/jobs/police", token)).status == 404
