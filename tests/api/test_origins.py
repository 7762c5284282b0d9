"""CORS for the HTTP API (an allow-list, off by default) and the socket's origins
(WS_ALLOWED_ORIGINS adds to the platform's own, never replaces them)."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from project.asgi import application
from tests.api.support import call
from tests.helpers import spec_token

pytestmark = pytest.mark.django_db(transaction=True)

DASH = "https://dash.example"
PREFLIGHT = {"Origin": DASH, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"}


async def test_cors_is_off_by_default(people):
    answer = await call("OPTIONS", "/api/v1/bans", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in answer.headers
    answer = await call("GET", "/api/v1/stats", spec_token("viewer", ["stats.view"]), headers={"Origin": DASH})
    assert answer.status == 200 and "access-control-allow-origin" not in answer.headers


async def test_listed_origins_may_call_the_api(people, settings):
    settings.CORS_ALLOWED_ORIGINS = [DASH]
    answer = await call("OPTIONS", "/api/v1/bans", headers=PREFLIGHT)
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == DASH
    allowed = {h.strip() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert "access-control-allow-credentials" not in answer.headers
    answer = await call("GET", "/api/v1/stats", spec_token("viewer", ["stats.view"]), headers={"Origin": DASH})
    assert answer.headers["access-control-allow-origin"] == DASH
    assert "Retry-After" in answer.headers["access-control-expose-headers"]
    other = await call("OPTIONS", "/api/v1/bans", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    # Only the API: the web admin's pages never answer other origins.
    page = await call("GET", "/login/", headers={"Origin": DASH})
    assert "access-control-allow-origin" not in page.headers


async def handshake(origin: str) -> bool:
    comm = WebsocketCommunicator(application, "/", headers=[(b"origin", origin.encode()), (b"host", b"localhost")])
    connected, _ = await comm.connect()
    if connected:
        await comm.disconnect()
    return connected


async def test_ws_allowed_origins_adds_to_the_platforms_own(people, settings):
    assert await handshake("http://localhost:3001")
    assert not await handshake(DASH)
    settings.WS_ALLOWED_ORIGINS = [DASH]
    assert await handshake(DASH)
    assert await handshake("http://localhost:3001"), "the web admin lost its socket"
    assert not await handshake("https://evil.example")
