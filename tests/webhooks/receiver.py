"""A real local webhook receiver for the tests: an HTTP server in a thread that answers
ok, fails, hangs or redirects, as the test says, and keeps every request it got."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """``mode``: "ok" (204), "fail" (503), "hang" (no answer until :meth:`release`),
    "redirect" (307 to ``location``), "redirect302" (302 to it: clients follow with a GET), "limited" (429, Retry-After: 120)."""

    host: str = "127.0.0.1"
    mode: str = "ok"
    location: str = ""
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.changed = threading.Condition()
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.changed:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    mode = receiver.mode
                    receiver.changed.notify_all()
                if mode == "hang":
                    receiver.released.wait(60)
                    return
                if mode in ("redirect", "redirect302"):
                    self.send_response(307 if mode == "redirect" else 302)
                    self.send_header("location", receiver.location)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                self.send_response({"ok": 204, "limited": 429}.get(mode, 503))
                if mode == "limited":
                    self.send_header("retry-after", "120")
                self.send_header("content-length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                with receiver.changed:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, b""))
                    receiver.changed.notify_all()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the senders open up to WS_WEBHOOK_CONCURRENCY at once, per process

        self.server = Server((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def set(self, mode: str) -> None:
        with self.changed:
            self.mode = mode

    def release(self) -> None:
        self.released.set()

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        """The requests once there are ``count``, or AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(self.requests)} of {count} requests within {timeout}s")
                self.changed.wait(remaining)
            return list(self.requests)

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
