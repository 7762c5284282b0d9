"""Serve HTTP and the socket on WS_PORT with a production ASGI server."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime.servers import SERVERS, run_uvicorn, tls_files

RESTART_DELAY = 1.0  # seconds before a process that died is started again


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches this machine only (0.0.0.0 and :: reach everyone)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class Command(BaseCommand):
    help = (
        "Serve the platform (admin + WebSocket) on one port with uvicorn or daphne; "
        "with TLS when WS_TLS_CERT and WS_TLS_KEY are set; --processes N for one process "
        "per core sharing the port (needs REDIS_URL)."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--host", default=os.environ.get("WS_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.WS_PORT)
        parser.add_argument(
            "--server",
            choices=sorted(SERVERS),
            # uvicorn by default: faster than daphne on every figure of bench/run.py
            # (README, "Performance"); daphne stays supported.
            default=os.environ.get("WS_SERVER", "uvicorn"),
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=int(os.environ.get("WS_PROCESSES", "1")),
            help="server processes sharing the port (SO_REUSEPORT); 0 = one per core",
        )
        parser.add_argument("--reuse-port", action="store_true", help=(
            "bind the port shared with other processes (what --processes starts)"))

    def handle(self, *args, **options) -> None:
        host, port, server = options["host"], options["port"], options["server"]
        if settings.DEBUG and not is_loopback(host):
            raise CommandError(
                f"refusing to serve on {host} with DEBUG on: DEBUG shows tracebacks and "
                "settings to anyone who can reach the port. Bind 127.0.0.1 / ::1 / localhost, "
                "or set DEBUG=false (with WS_JWT_SECRET and ALLOWED_HOSTS) for a public server"
            )
        processes = options["processes"] or os.cpu_count() or 1
        if processes < 1:
            raise CommandError("--processes must be at least 1 (0: one per core)")
        if processes > 1 or options["reuse_port"]:
            if not settings.REDIS_URL:
                raise CommandError(
                    "several server processes need REDIS_URL: with the in-memory channel "
                    "layer each process would see only its own sockets"
                )
            if server != "uvicorn":
                raise CommandError(
                    "--processes works with uvicorn; run several daphne processes on their "
                    "own ports behind a proxy instead (README, Scaling out)"
                )
        secure = tls_files() is not None
        http, ws = ("https", "wss") if secure else ("http", "ws")
        if options["reuse_port"]:
            run_uvicorn(host, port, reuse_port=True)
            return
        self.stdout.write(
            f"serving on {http}://{host}:{port}/ (socket {ws}://{host}:{port}) with {server}"
            + (f", {processes} processes" if processes > 1 else "")
        )
        if processes == 1:
            SERVERS[server](host, port)
        else:
            self.supervise(host, port, processes)

    def supervise(self, host: str, port: int, processes: int) -> None:
        """Run ``processes`` servers on one port; start again any that dies; stop on a signal."""
        argv = [sys.executable, sys.argv[0], "serve", "--host", host, "--port", str(port), "--reuse-port"]
        children = [subprocess.Popen(argv) for _ in range(processes)]
        stopping = False

        def stop(signum, frame) -> None:  # noqa: ANN001
            nonlocal stopping
            stopping = True
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while any(child.poll() is None for child in children):
            pid, status = os.wait()  # blocks until a child exits (signals are handled meanwhile)
            if stopping:
                continue
            for i, child in enumerate(children):
                if child.pid == pid:
                    child.returncode = os.waitstatus_to_exitcode(status)
                    self.stderr.write(f"server process {pid} exited ({child.returncode}); starting another")
                    time.sleep(RESTART_DELAY)
                    children[i] = subprocess.Popen(argv)
