#!/usr/bin/env python3
"""Benchmark: webhook deliveries per second from one sender to a local receiver.

    .venv/bin/python bench/webhooks.py                       # 2000 deliveries, SQLite
    .venv/bin/python bench/webhooks.py --deliveries 5000 --concurrency 32
    .venv/bin/python bench/webhooks.py --database postgres://postgres@127.0.0.1:5432/bench_db

A fresh database (a temporary SQLite file unless --database), one endpoint (Standard
Webhooks format, signed), N outbox rows; then one :class:`webhooks.sender.Sender`, exactly
as a server process runs it (claim with a lease, sign, POST through the SSRF guard, record
the attempt), until every row is delivered. The receiver is a separate uvicorn process
answering 204. Prints the figure and, as the bound, plain httpx POSTs to the same receiver
at the same concurrency; asserts nothing (the machine is shared: compare the two).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RECEIVER = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16, help="WS_WEBHOOK_CONCURRENCY")
    parser.add_argument("--database", default="", help="DATABASE_URL (default: a temporary SQLite file)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    (workdir / "receiver.py").write_text(RECEIVER)
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "receiver:app", "--port", str(port), "--log-level", "warning",
         "--no-access-log"], cwd=workdir,
    )
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "project.settings", "WS_JWT_SECRET": secrets.token_urlsafe(48),
        "DATABASE_URL": args.database or f"sqlite:///{workdir / 'db.sqlite3'}", "LOG_LEVEL": "WARNING",
        "WS_WEBHOOK_ALLOW_PRIVATE": "127.0.0.1", "WS_WEBHOOK_CONCURRENCY": str(args.concurrency),
    })
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from game.audit import Actor
    from webhooks import outbox, services
    from webhooks.models import Delivery, Endpoint
    from webhooks.sender import Sender

    hook = services.save_endpoint(Actor(None, "bench"), Endpoint(name="bench", url=f"http://127.0.0.1:{port}/",
                                                                 events=["announcement"]))
    Delivery.objects.all().delete()
    outbox.enqueue([hook.pk] * args.deliveries, "announcement", {"message": "hello " * 20})
    deadline = time.monotonic() + 30
    while True:  # the receiver process is listening
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the receiver did not start")
            time.sleep(0.05)

    async def run() -> float:
        """The sender as a server process runs it (Sender.run), until it has sent them all."""
        sender = Sender()
        started = time.perf_counter()
        task = asyncio.create_task(sender.run())
        while sender.sent < args.deliveries and not task.done():
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return elapsed

    async def ceiling() -> float:
        """The same number of plain POSTs with httpx, no outbox, no signing: the bound here."""
        import httpx

        gate = asyncio.Semaphore(args.concurrency)
        async with httpx.AsyncClient() as client:
            async def one() -> None:
                async with gate:
                    await client.post(f"http://127.0.0.1:{port}/", content=b"x" * 200)

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(args.deliveries)))
            return time.perf_counter() - started

    try:
        plain = asyncio.run(ceiling())
        elapsed = asyncio.run(run())
    finally:
        receiver.terminate()
        receiver.wait(10)
    delivered = Delivery.objects.filter(status=Delivery.DELIVERED).count()
    engine = "PostgreSQL" if args.database.startswith("postgres") else "SQLite"
    print(f"webhooks: {delivered}/{args.deliveries} delivered in {elapsed:.2f}s = "
          f"{delivered / elapsed:,.0f} deliveries/s (one sender, concurrency {args.concurrency}, {engine}, "
          f"signed, to a local uvicorn receiver)")
    print(f"reference: plain httpx POSTs to the same receiver, same concurrency: {args.deliveries / plain:,.0f}/s")


if __name__ == "__main__":
    main()
