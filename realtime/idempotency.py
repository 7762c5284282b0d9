"""Idempotent commands: a retried kick or ban is answered with the first result, not
carried out twice, in any process (the claim is a row under a unique constraint).

A command (rate class ``command``) sent with a key (HTTP ``Idempotency-Key``, socket
``idempotencyKey`` beside ``requestId``) is claimed for its user before the handler runs:

- no row: claimed; the handler runs; a success is stored, an error releases the claim (the
  command was not carried out, so a retry may carry it out);
- a finished row for the same event and data: its reply, again (``replayed``);
- a row still running: ``conflict`` (409), the first one is still being carried out;
- a row for another event or other data: ``invalid_payload`` (422), a key is for one request.

Rows older than WS_IDEMPOTENCY_WINDOW are forgotten; a claim left running longer than
STALE_CLAIM seconds (its process died) is taken over.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from realtime.protocol import Conflict, InvalidPayload
from realtime.registry import EventSpec, Reply, Request

KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
STALE_CLAIM = 120.0  # seconds; well above WS_COMMAND_TIMEOUT's default of 10


def check_key(key: Any) -> str:
    """The key, or invalid_payload when it is not 1-255 printable ASCII characters."""
    if not isinstance(key, str) or not KEY.match(key):
        raise InvalidPayload("An idempotency key must be 1 to 255 printable ASCII characters without spaces")
    return key


def fingerprint(event: str, data: Any) -> str:
    text = json.dumps([event, data], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def window() -> timedelta:
    from realtime.tokens import parse_duration

    return parse_duration(settings.WS_IDEMPOTENCY_WINDOW)


def _claim(user_id: int, key: str, event: str, print_: str) -> tuple[bool, Any]:
    """(True, row id) when claimed now; (False, the stored reply) for a finished one."""
    from realtime.models import IdempotencyKey

    now = timezone.now()
    rows = IdempotencyKey.objects
    if random.random() < 0.01:  # now and then, forget every expired key
        rows.filter(created_at__lt=now - window()).delete()
    for _ in range(3):
        try:
            with transaction.atomic():
                return True, rows.create(user_id=user_id, key=key, event=event, fingerprint=print_, created_at=now).pk
        except IntegrityError:
            pass
        row = rows.filter(user_id=user_id, key=key).first()
        if row is None:
            continue  # released meanwhile: claim again
        expired = row.created_at < now - window()
        stale = not row.done and row.created_at < now - timedelta(seconds=STALE_CLAIM)
        if expired or stale:
            rows.filter(pk=row.pk, created_at=row.created_at).delete()
            continue
        if row.event != event or row.fingerprint != print_:
            raise InvalidPayload(f"Idempotency key {key!r} was used for another request ({row.event})")
        if not row.done:
            raise Conflict(f"The request with idempotency key {key!r} is still being carried out")
        return False, (row.reply_event, row.reply_data)
    raise Conflict(f"Idempotency key {key!r} is contended; retry")


def _finish(row_id: int, reply: Reply | None) -> None:
    from realtime.models import IdempotencyKey

    IdempotencyKey.objects.filter(pk=row_id).update(
        done=True, reply_event=reply.event if reply else "", reply_data=reply.data if reply else None
    )


def _release(row_id: int) -> None:
    from realtime.models import IdempotencyKey

    IdempotencyKey.objects.filter(pk=row_id, done=False).delete()


class Replayed(Reply):
    """A stored reply given again (the HTTP API says so in a header)."""


async def run(spec: EventSpec, request: Request, key: str | None) -> Reply | None:
    """The handler's reply, carried out at most once per (user, key) within the window."""
    if key is None or spec.rate != "command":
        return await spec.handler(request)
    user_id = request.connection.user_id
    claimed, found = await database_sync_to_async(_claim)(
        user_id, check_key(key), spec.name, fingerprint(spec.name, request.data)
    )
    if not claimed:
        event, data = found
        return Replayed(event, data) if event else Replayed("ack", None)
    try:
        reply = await spec.handler(request)
    except BaseException:
        await database_sync_to_async(_release)(found)
        raise
    await database_sync_to_async(_finish)(found, reply if isinstance(reply, Reply) else None)
    return reply
