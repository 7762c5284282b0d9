"""The outbox: which endpoints get an event, claiming due deliveries, recording attempts.

Synchronous ORM code (the sender calls it through ``database_sync_to_async``), except the
broadcast hook. Rows for an audit action are written inside the transaction that writes
the action's entry (``game.audit.action_recorded``); rows for a broadcast right after it
is handed to the hub (``realtime.api.on_broadcast``). Claims take a lease: on PostgreSQL
the due rows are picked with ``SELECT ... FOR UPDATE SKIP LOCKED``, and on every database
the lease is set by an ``UPDATE`` that re-checks that the row is still free (SQLite runs
it in an IMMEDIATE transaction, one writer at a time), so two senders never hold one row.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from webhooks.models import Delivery, Endpoint, wants

AUDIT_PREFIX = "audit."
ENDPOINTS_TTL = 2.0  # seconds another process's endpoint change may take to be seen here

_cache: tuple[float, list[tuple[int, list[str]]]] | None = None
_wakers: list[Callable[[], None]] = []


# -- which endpoints ----------------------------------------------------------------------


def forget_endpoints(**kwargs: Any) -> None:
    """Drop this process's cached endpoint list (an endpoint was saved or deleted)."""
    global _cache
    _cache = None


def _active_endpoints() -> list[tuple[int, list[str]]]:
    return [(pk, events or []) for pk, events in Endpoint.objects.filter(active=True).values_list("id", "events")]


def subscribers(endpoints: list[tuple[int, list[str]]], event_type: str) -> list[int]:
    return [pk for pk, events in endpoints if wants(events, event_type)]


def plain(data: Any) -> Any:
    """``data`` as plain JSON values (a RawJSON string decoded; anything else as JSON sees it)."""
    from realtime.protocol import RawJSON

    if isinstance(data, RawJSON):
        return json.loads(data)
    return json.loads(json.dumps(data, default=str))


def enqueue(endpoint_ids: list[int], event_type: str, payload: Any) -> int:
    """Outbox rows for ``endpoint_ids`` (inside the caller's transaction); how many."""
    if not endpoint_ids:
        return 0
    now = timezone.now()
    until = now + timedelta(seconds=settings.WS_WEBHOOK_RETRY_FOR)
    Delivery.objects.bulk_create(
        [Delivery(endpoint_id=pk, event_type=event_type, payload=payload, created_at=now, next_attempt_at=now,
                  retry_until=until) for pk in endpoint_ids]
    )
    transaction.on_commit(wake)
    return len(endpoint_ids)


def without_ips(value: Any) -> Any:
    """``value`` less players' IP addresses (``ip`` keys, ``ip:`` values): the socket shows
    them to ``players.ip`` holders only, and a webhook's readers are unknown (a Discord channel)."""
    if isinstance(value, dict):
        return {k: without_ips(v) for k, v in value.items() if k != "ip" and not (isinstance(v, str) and v.startswith("ip:"))}
    if isinstance(value, list):
        return [without_ips(v) for v in value if not (isinstance(v, str) and v.startswith("ip:"))]
    return value


def on_action_recorded(sender: Any, entry: dict, **kwargs: Any) -> None:
    """game.audit.action_recorded: rows for the endpoints subscribed to ``audit.<action>``."""
    event_type = AUDIT_PREFIX + entry["action"]
    endpoints = subscribers(_active_endpoints(), event_type)
    if endpoints:
        enqueue(endpoints, event_type, without_ips(plain(entry)))


def _broadcast_rows(event: str, data: Any, endpoints: list[tuple[int, list[str]]] | None) -> None:
    global _cache
    if endpoints is None:
        endpoints = _active_endpoints()
        _cache = (time.monotonic(), endpoints)
    with transaction.atomic():
        enqueue(subscribers(endpoints, event), event, plain(data))


async def on_broadcast(event: str, data: Any) -> None:
    """realtime.api's broadcast hook: rows for the endpoints subscribed to ``event``.

    No database work at all while no endpoint wants it (the endpoint list is cached for
    ENDPOINTS_TTL seconds and dropped here whenever an endpoint is saved)."""
    cached = _cache
    fresh = cached[1] if cached is not None and time.monotonic() - cached[0] < ENDPOINTS_TTL else None
    if fresh is not None and not subscribers(fresh, event):
        return
    await database_sync_to_async(_broadcast_rows)(event, data, fresh)


# -- waking the local sender --------------------------------------------------------------


def add_waker(waker: Callable[[], None]) -> None:
    _wakers.append(waker)


def remove_waker(waker: Callable[[], None]) -> None:
    if waker in _wakers:
        _wakers.remove(waker)


def wake() -> None:
    """Tell this process's sender that rows were committed (others find them by polling)."""
    for waker in list(_wakers):
        try:
            waker()
        except RuntimeError:  # its loop is closed
            remove_waker(waker)


# -- claiming and recording ---------------------------------------------------------------


def _free(now) -> Q:  # noqa: ANN001
    """Due, not leased, and for an endpoint that is on (a paused one's rows wait for it)."""
    return Q(status=Delivery.PENDING, next_attempt_at__lte=now, endpoint__active=True) & (
        Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    )


def claim(limit: int, lease: float | None = None) -> list[Delivery]:
    """Up to ``limit`` due deliveries, leased to the caller (with their endpoints)."""
    lease = settings.WS_WEBHOOK_LEASE if lease is None else lease
    now = timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        due = Delivery.objects.filter(_free(now)).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            # Only the delivery rows (not their endpoint's, joined for ``active``): senders
            # must not skip each other's endpoints.
            of = ("self",) if connection.features.has_select_for_update_of else ()
            due = due.select_for_update(skip_locked=True, of=of)
        ids = list(due.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        Delivery.objects.filter(_free(now), id__in=ids).update(
            lease_until=now + timedelta(seconds=lease), lease_token=token
        )
    return list(Delivery.objects.filter(lease_token=token).select_related("endpoint").order_by("id"))


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: exponential, capped,
    with jitter (half fixed, half random) so that a recovering receiver is not hit by
    every sender at once."""
    delay = min(settings.WS_WEBHOOK_RETRY_BASE * 2 ** max(attempts - 1, 0), settings.WS_WEBHOOK_RETRY_MAX)
    return delay / 2 + random.uniform(0, delay / 2)


# id, lease token, ok, status code, latency ms, error, seconds the receiver asked to wait (Retry-After)
Result = tuple[int, str, bool, "int | None", int, str, float]


def record_many(results: list[Result]) -> dict[int, str]:
    """Log attempts (one transaction) and move each delivery on: delivered, due again after
    its backoff, or given up past its retry window. {delivery id: status now}."""
    from webhooks.models import Attempt

    now = timezone.now()
    statuses: dict[int, str] = {}
    with transaction.atomic():
        rows = Delivery.objects.select_for_update().in_bulk([r[0] for r in results])
        attempts = []
        for delivery_id, token, ok, status_code, latency_ms, error, wait in results:
            d = rows[delivery_id]
            attempts.append(Attempt(delivery=d, at=now, status_code=status_code, latency_ms=latency_ms,
                                    error=error[:500], ok=ok))
            d.attempts += 1
            d.last_status_code, d.last_latency_ms, d.last_error = status_code, latency_ms, error[:500]
            if d.lease_token == token:
                d.lease_until, d.lease_token = None, ""
            if ok:
                d.status, d.delivered_at = Delivery.DELIVERED, now
            elif d.status == Delivery.PENDING:
                # A receiver's Retry-After (Discord's rate limit: 429) is honoured, within the cap.
                delay = max(backoff(d.attempts), min(wait, settings.WS_WEBHOOK_RETRY_MAX))
                retry_at = now + timedelta(seconds=delay)
                if retry_at > d.retry_until:
                    d.status = Delivery.FAILED
                else:
                    d.next_attempt_at = retry_at
            statuses[delivery_id] = d.status
        Attempt.objects.bulk_create(attempts)
        for d in rows.values():  # plain UPDATEs: cheaper than bulk_update's CASE per column
            d.save(update_fields=["attempts", "last_status_code", "last_latency_ms", "last_error", "lease_until",
                                  "lease_token", "status", "delivered_at", "next_attempt_at"])
    return statuses


def redeliver(delivery_ids: list[int]) -> int:
    """Send these deliveries again now (same webhook-id), retrying for another day; how many."""
    now = timezone.now()
    with transaction.atomic():
        count = Delivery.objects.filter(id__in=delivery_ids).update(
            status=Delivery.PENDING, next_attempt_at=now, lease_until=None, lease_token="",
            retry_until=now + timedelta(seconds=settings.WS_WEBHOOK_RETRY_FOR),
        )
        transaction.on_commit(wake)
    return count
