"""The reference client (static/js/realtime-client.js) as an external app uses it: in Node,
against a real server process that stops and comes back."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.live import ROOT

pytestmark = pytest.mark.live

SCRIPT = ROOT / "tests" / "webui" / "client_check.mjs"
CLIENT = (ROOT / "static" / "js" / "realtime-client.js").as_uri()


class Steps:
    """The script's JSON lines, read as they come."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.seen: dict[str, object] = {}

    def until(self, step: str) -> object:
        while step not in self.seen:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the script ended before {step!r}: {self.proc.stderr.read()}")
            entry = json.loads(line)
            self.seen[entry["step"]] = entry["value"]
        return self.seen[step]


def test_the_reference_client_outside_a_browser(platform):
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed; the browser tests cover the client there")
    platform.shell("from tests.helpers import make_user; make_user('bot', ['players.view'])")
    token = platform.manage("ws_token", "bot", "--permissions", "players.view", "--expires", "1h").stdout.strip()
    server = platform.start()
    proc = subprocess.Popen(
        [node, "--experimental-websocket", str(SCRIPT), CLIENT, server.url, token],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        steps = Steps(proc)
        assert steps.until("queued-timeout") == [True, "timeout"]
        assert steps.until("ready") == {"clientId": "string", "permissions": ["players.view"], "reasons": ["connect"]}
        assert steps.until("ping") == "pong"
        assert steps.until("unknown") == "unknown_event"
        assert steps.until("invalid") == ["invalid_payload", "object"]
        assert steps.until("denied") == "permission_denied"
        steps.until("waiting")

        server.stop()
        platform.start(port=server.port)
        proc.stdin.write("restarted\n")
        proc.stdin.flush()
        assert steps.until("reconnected") == {
            "newClientId": True,
            "sawReconnecting": True,
            "reasons": ["connect"],  # the held token was still good: not asked again
            "ping": "pong",
        }
        assert steps.until("closed") == "idle"
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_the_reference_client_recovers_a_dropped_socket_without_a_gap(platform):
    """A reconnect within the history window: recovered (no reload), and the client's log
    of broadcasts equals that of a client that never disconnected."""
    # Synchronous (the sync websockets client): this directory's browser tests hold a
    # session-wide Playwright loop that an async test after them would trip over.
    from websockets.sync.client import connect

    from tests.live import token as live_token

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    platform.shell(
        "from tests.helpers import make_user; make_user('bot', ['players.view']); make_user('bridge', ['gameserver'])"
    )
    server = platform.start()
    proc = subprocess.Popen(
        [node, "--experimental-websocket", str(ROOT / "tests" / "webui" / "client_recovery.mjs"), CLIENT,
         server.url, live_token(platform, "bot", ["players.view"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )

    def ask(bridge, frame: dict) -> None:  # noqa: ANN001
        bridge.send(json.dumps(frame))
        while True:
            reply = json.loads(bridge.recv(timeout=20))
            if reply.get("requestId") == frame["requestId"]:
                assert reply["event"] == "ack", reply
                return

    try:
        steps = Steps(proc)
        assert steps.until("ready") == {"position": "number"}
        with connect(server.url) as bridge:
            bridge.recv(timeout=20)
            bridge.send(json.dumps({"event": "auth", "data": {"token": live_token(platform, "bridge", ["gameserver"])}}))
            assert json.loads(bridge.recv(timeout=20))["event"] == "authenticated"
            for i in range(200):
                ask(bridge, {"event": "broadcast", "requestId": i, "data": {"event": "tick", "data": {"i": i}}})
            ask(bridge, {"event": "broadcast", "requestId": "d", "data": {"event": "done", "data": {}}})
            logs = steps.until("logs")
        assert logs["opens"] == [False, True], "the reconnect was recovered: no reload"
        assert logs["flaky"] == logs["reference"]
        assert [entry[1]["i"] for entry in logs["flaky"][:-1]] == list(range(200))
    finally:
        proc.kill()
        proc.wait(10)
