"""ws_broadcast, ws_send, ws_clients, ws_revoke on the README's default set-up (no Redis,
one server process): they reach the running server through its HTTP API, or fail saying
what is missing; never a success that delivered nothing."""

from __future__ import annotations

import json

import pytest

from tests.helpers import spec_part
from tests.live import expect, free_port, open_authed, recv, token

USERS = """
from tests.helpers import make_user
make_user("owner", superuser=True)
make_user("viewer", ["players.view", "stats.view"])
make_user("bridge", ["gameserver"])
"""


@pytest.fixture
def no_redis(platform):
    platform.env.pop("REDIS_URL", None)
    platform.shell(USERS)
    return platform


async def test_the_export_commands_work_without_redis(no_redis):
    platform = no_redis
    server = platform.start("uvicorn")
    platform.env["WS_PORT"] = str(server.port)
    viewer, viewer_id = await open_authed(server.url, token(platform, "viewer", ["stats.view"]))
    bridge, bridge_id = await open_authed(server.url, token(platform, "bridge", ["gameserver"]))

    result = platform.manage("ws_clients", check=False)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.splitlines()
    assert sorted(listed) == sorted([f"{viewer_id}\tviewer\tuser", f"{bridge_id}\tbridge\tbridge"])
    assert sorted(platform.manage("ws_clients", "--ids").stdout.split()) == sorted([viewer_id, bridge_id])

    done = platform.manage("ws_broadcast", "serverNotice", '{"text": "hello"}')
    assert "broadcast serverNotice" in done.stderr
    assert spec_part(await expect(viewer, "serverNotice")) == {"event": "serverNotice", "data": {"text": "hello"}}

    platform.manage("ws_send", viewer_id, "direct", '{"x": 1}')
    assert await expect(viewer, "direct") == {"event": "direct", "data": {"x": 1}}
    failed = platform.manage("ws_send", "no-such-client", "direct", check=False)
    assert failed.returncode == 1 and "not connected" in failed.stderr

    # A reserved name is refused before anything is sent.
    refused = platform.manage("ws_broadcast", "playerKicked", "{}", check=False)
    assert refused.returncode == 1 and "platform's own events" in refused.stderr

    # ws_revoke: the viewer's registered token is revoked; its socket closes (4003).
    minted = json.loads(platform.shell(
        "import json; from realtime.api import generate_token; "
        "print(json.dumps(generate_token('viewer', ['stats.view'], '1h')))").strip().splitlines()[-1])
    revoked_ws, _ = await open_authed(server.url, minted)
    out = platform.manage("ws_revoke", "--user", "viewer").stdout
    assert "revoked" in out
    with pytest.raises(Exception) as closed:
        while True:
            await recv(revoked_ws, timeout=10)
    assert getattr(getattr(closed.value, "rcvd", None), "code", None) == 4003
    for ws in (viewer, bridge):
        await ws.close()


def test_without_a_server_or_redis_they_fail_clearly(no_redis):
    platform = no_redis
    platform.env["WS_PORT"] = str(free_port())  # nothing listens there
    for args in (("ws_broadcast", "notice", "{}"), ("ws_send", "some-id", "notice"), ("ws_clients",)):
        result = platform.manage(*args, check=False)
        assert result.returncode == 1, args
        assert "no platform server answers" in result.stderr and "REDIS_URL" in result.stderr, result.stderr
        assert "broadcast notice" not in result.stderr


def test_without_a_user_holding_gameserver_they_say_so(platform):
    platform.env.pop("REDIS_URL", None)
    server = platform.start("uvicorn")
    platform.env["WS_PORT"] = str(server.port)
    result = platform.manage("ws_broadcast", "notice", "{}", check=False)
    assert result.returncode == 1 and "--as USERNAME" in result.stderr


def test_a_token_revoked_by_another_process_stops_working_over_http(no_redis):
    """No socket ever connects to this server: its HTTP API alone must follow ws_revoke."""
    import time
    import urllib.error
    import urllib.request

    platform = no_redis
    server = platform.start("uvicorn")
    minted = json.loads(platform.shell(
        "import json; from realtime.api import generate_token; "
        "print(json.dumps(generate_token('viewer', ['stats.view'], '1h')))").strip().splitlines()[-1])

    def status() -> int:
        request = urllib.request.Request(f"{server.http}/api/v1/stats", headers={"Authorization": f"Bearer {minted}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert status() == 200  # the principal and the token's state are now cached in the server
    platform.manage("ws_revoke", "--user", "viewer")
    deadline = time.monotonic() + 10
    while status() != 401:
        assert time.monotonic() < deadline, "the revoked token still works over HTTP"
