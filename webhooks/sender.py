"""The sender: one per server process, delivering due outbox rows without blocking the socket.

It runs as a task on the server's event loop; every HTTP request is asynchronous (httpx),
bounded (WS_WEBHOOK_TIMEOUT for the whole request, redirects included; at most
WS_WEBHOOK_CONCURRENCY at once) and every database call runs off the loop. Rows committed
by this process wake it at once; rows of other processes are found by polling every
WS_WEBHOOK_POLL seconds. Senders of several processes share the rows through leases
(webhooks/outbox.py): a row is posted by one of them at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
from channels.db import database_sync_to_async
from django.conf import settings

from webhooks import crypto, formats, outbox
from webhooks.guard import AddressRefused, GuardedTransport
from webhooks.models import Delivery

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
USER_AGENT = "fivem-platform-webhooks/1"


def headers(delivery: Delivery, body: bytes, secret: str, now: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers for one attempt (the timestamp is the attempt's)."""
    timestamp = int(time.time()) if now is None else now
    out = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret:
        out["webhook-signature"] = crypto.sign(secret, delivery.message_id, timestamp, body)
    return out


def retry_after(response: httpx.Response) -> float:
    """Seconds a 429/503 answer's ``Retry-After`` asks for (Discord: seconds, maybe fractional); 0: none."""
    if response.status_code not in (429, 503):
        return 0.0
    try:
        return max(float(response.headers.get("retry-after", "0")), 0.0)
    except ValueError:  # an HTTP date: the backoff decides
        return 0.0


class Sender:
    """Claims due deliveries and posts them; :meth:`run` until cancelled."""

    def __init__(self, *, batch: int | None = None, client: httpx.AsyncClient | None = None) -> None:
        self.concurrency = settings.WS_WEBHOOK_CONCURRENCY
        self.batch = batch or self.concurrency
        self.client = client or httpx.AsyncClient(
            transport=GuardedTransport(max_connections=self.concurrency),
            follow_redirects=True, max_redirects=MAX_REDIRECTS, trust_env=False,
            timeout=httpx.Timeout(settings.WS_WEBHOOK_TIMEOUT),
        )
        self.wakeup = asyncio.Event()
        self.sent = 0
        self._secrets: dict[tuple[int, str], str] = {}  # decrypted once per endpoint and ciphertext

    def secret(self, delivery: Delivery) -> str:
        key = (delivery.endpoint_id, delivery.endpoint.secret_encrypted)
        if key not in self._secrets:
            if len(self._secrets) > 1000:
                self._secrets.clear()
            self._secrets[key] = delivery.endpoint.secret
        return self._secrets[key]

    async def run(self) -> None:
        """Deliver until cancelled, keeping up to WS_WEBHOOK_CONCURRENCY requests in flight:
        a slot that frees up is filled at once, so one slow receiver holds one slot, never
        the others' deliveries. A failing database is retried, never fatal."""
        loop = asyncio.get_running_loop()

        def waker() -> None:
            loop.call_soon_threadsafe(self.wakeup.set)

        outbox.add_waker(waker)
        flying: dict[asyncio.Task, Delivery] = {}
        try:
            while True:
                try:
                    await self._step(flying)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the database failed; keep serving, retry
                    log.warning("webhooks: claiming or recording deliveries failed; retrying", exc_info=True)
                    await asyncio.sleep(settings.WS_WEBHOOK_POLL)
        finally:
            outbox.remove_waker(waker)
            for task in flying:
                task.cancel()
            await self.client.aclose()

    async def _step(self, flying: dict[asyncio.Task, Delivery]) -> None:
        """Fill the free slots, wait for a request to finish, new rows or the poll, record."""
        self.wakeup.clear()
        free = self.concurrency - len(flying)
        if free > 0:
            for row in await database_sync_to_async(outbox.claim)(free):
                flying[asyncio.create_task(self.deliver(row))] = row
        woken = asyncio.ensure_future(self.wakeup.wait())
        try:
            await asyncio.wait([*flying, woken], timeout=settings.WS_WEBHOOK_POLL,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
        done = [task for task in flying if task.done()]
        if done:
            rows = [flying.pop(task) for task in done]
            await self._record(rows, [task.result() for task in done])

    async def run_once(self) -> int:
        """Claim one batch of due deliveries, post them all, record the attempts together;
        how many there were (one round: tests, the benchmark, ``webhooks_send``)."""
        self.wakeup.clear()
        rows = await database_sync_to_async(outbox.claim)(self.batch)
        if rows:
            await self._record(rows, await asyncio.gather(*(self.deliver(row) for row in rows)))
        return len(rows)

    async def _record(self, rows: list[Delivery], results: list[outbox.Result]) -> None:
        statuses = await database_sync_to_async(outbox.record_many)(results)
        for row, result in zip(rows, results):
            if result[2]:
                self.sent += 1
            elif statuses[row.pk] == Delivery.FAILED:
                # Never the URL (a Discord webhook URL is a credential) nor the error's text.
                log.warning("webhooks: gave up delivery %s (%s) to endpoint %s after %d attempts (last: %s)",
                            row.message_id, row.event_type, row.endpoint_id, row.attempts + 1,
                            result[3] or "no answer")

    async def attempt(self, delivery: Delivery) -> tuple[bool, int | None, str] | tuple[bool, int | None, str, float]:
        """Post ``delivery`` once: (succeeded, status code, why not[, Retry-After seconds])."""
        try:
            body = formats.body(delivery)
            request_headers = headers(delivery, body, self.secret(delivery))
        except crypto.SecretUnreadable as exc:
            return False, None, str(exc)
        try:
            async with asyncio.timeout(settings.WS_WEBHOOK_TIMEOUT):
                response = await self.client.post(delivery.endpoint.url, content=body, headers=request_headers)
        except TimeoutError:
            return False, None, f"no answer within {settings.WS_WEBHOOK_TIMEOUT:g}s"
        except AddressRefused as exc:
            return False, None, str(exc)
        except httpx.TooManyRedirects:
            return False, None, f"more than {MAX_REDIRECTS} redirects"
        except httpx.HTTPError as exc:
            return False, None, f"{type(exc).__name__}: {exc}"[:500]
        if response.request.method != "POST":  # a 301/302/303 turned it into a GET: not delivered
            return False, response.status_code, f"redirected to a {response.request.method} (only 307/308 keep the POST)"
        if 200 <= response.status_code < 300:
            return True, response.status_code, ""
        return False, response.status_code, f"answered {response.status_code}", retry_after(response)

    async def deliver(self, delivery: Delivery) -> outbox.Result:
        """One attempt of ``delivery``: what :func:`outbox.record_many` records."""
        started = time.monotonic()
        try:
            ok, code, error, *wait = await self.attempt(delivery)
        except Exception as exc:  # noqa: BLE001 - recorded as a failed attempt, retried
            log.exception("webhooks: delivery %s failed unexpectedly", delivery.message_id)
            ok, code, error, wait = False, None, f"internal error: {type(exc).__name__}", []
        latency = int((time.monotonic() - started) * 1000)
        return delivery.pk, delivery.lease_token, ok, code, latency, error, (wait[0] if wait else 0.0)


_task: asyncio.Task | None = None


def start() -> asyncio.Task | None:
    """Start this process's sender on the running loop (once; not when WS_WEBHOOK_SENDER is off)."""
    global _task
    if not settings.WS_WEBHOOK_SENDER:
        return None
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(Sender().run(), name="webhooks-sender")
    return _task


async def stop() -> None:
    global _task
    task, _task = _task, None
    if task is not None:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass
