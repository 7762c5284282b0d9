"""Webhooks against real server processes: a crash between the write and the delivery
loses nothing and doubles nothing; two processes on PostgreSQL share the work without
double sends."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from tests.live import LiveClient, token
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.live

SETUP = """
from tests.helpers import make_user
from tests.webhooks.support import endpoint
make_user('boss', superuser=True)
endpoint({url!r}, ['playerBanned', 'audit.player.ban'])
"""

STATE = """
import json
from webhooks.models import Delivery
print(json.dumps(list(Delivery.objects.order_by('id').values('message_id', 'event_type', 'status', 'attempts'))))
"""

FAST = {"WS_WEBHOOK_ALLOW_PRIVATE": "127.0.0.0/8", "WS_WEBHOOK_POLL": "0.1", "WS_WEBHOOK_RETRY_BASE": "0.05"}


def state(platform) -> list[dict]:  # noqa: ANN001
    return json.loads(platform.shell(STATE).strip().splitlines()[-1])


async def until(platform, predicate, timeout: float = 30) -> list[dict]:  # noqa: ANN001
    """The outbox once ``predicate(rows)`` holds (read by a third process), or fail."""
    async with asyncio.timeout(timeout):
        while True:
            rows = await asyncio.to_thread(state, platform)
            if predicate(rows):
                return rows


async def ban(server, platform, name: str) -> None:  # noqa: ANN001
    client = await LiveClient.open(server.url, token(platform, "boss", ["admin"]))
    reply = await client.ask("banPlayer", {"identifiers": {"license": f"license:{name}"}, "name": name,
                                           "reason": "cheating", "duration": "permanent"}, "b")
    assert reply["event"] == "success", reply
    await client.ws.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


async def test_sigkill_between_the_write_and_the_delivery_loses_and_doubles_nothing(platform, receiver):
    platform.shell(SETUP.format(url=receiver.url))
    # The first process commits the ban, its audit entry and their outbox rows, and is
    # killed before it sends them (its sender is off: the kill lands between for certain).
    first = platform.start("uvicorn", **FAST, WS_WEBHOOK_SENDER="false")
    await ban(first, platform, "Nova42")
    first.kill()
    rows = state(platform)
    assert [(r["event_type"], r["status"]) for r in rows] == [("audit.player.ban", "pending"), ("playerBanned", "pending")]
    assert receiver.requests == []
    # The restarted platform sends each once.
    platform.start("uvicorn", **FAST)
    rows = await until(platform, lambda rows: all(r["status"] == "delivered" for r in rows))
    got = await asyncio.to_thread(receiver.wait_for, 2)
    assert sorted(r.headers["webhook-id"] for r in got) == sorted(r["message_id"] for r in rows)
    assert [r["attempts"] for r in rows] == [1, 1] and len(receiver.requests) == 2


async def test_sigkill_during_a_delivery_resends_it_with_the_same_idempotency_id(platform, receiver):
    platform.shell(SETUP.format(url=receiver.url))
    receiver.set("hang")
    # A lease just longer than the timeout: the kill lands while both requests wait.
    first = platform.start("uvicorn", **FAST, WS_WEBHOOK_LEASE="6")
    await ban(first, platform, "Nova42")
    await asyncio.to_thread(receiver.wait_for, 2)  # both requests in flight, unanswered
    first.kill()
    receiver.set("ok")
    receiver.release()
    platform.start("uvicorn", **FAST)
    rows = await until(platform, lambda rows: all(r["status"] == "delivered" for r in rows))
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    # At least once, and never under a new id: a receiver that keeps the ids it processed
    # (as Standard Webhooks asks) processes each event once.
    assert set(ids) == {r["message_id"] for r in rows} and sorted(ids.values()) == [2, 2], ids
    assert [r["attempts"] for r in rows] == [1, 1], platform.shell(  # the killed process recorded none
        "from webhooks.models import Attempt\nprint(list(Attempt.objects.values_list('ok', 'status_code', 'error')))")


async def test_two_processes_on_sqlite_never_send_one_delivery_twice(platform, receiver):
    await two_processes_share(platform, receiver)


@pytest.mark.postgres
async def test_two_processes_on_postgresql_never_send_one_delivery_twice(pg_platform, receiver):
    await two_processes_share(pg_platform, receiver)


async def two_processes_share(platform, receiver) -> None:  # noqa: ANN001
    platform.shell(SETUP.format(url=receiver.url) + """
from webhooks import outbox
from webhooks.models import Endpoint
outbox.enqueue([Endpoint.objects.get().pk] * 300, 'announcement', {'message': 'hello'})
""")
    for _ in range(2):
        platform.start("uvicorn", **FAST, WS_WEBHOOK_CONCURRENCY="8")
    rows = await until(platform, lambda rows: all(r["status"] == "delivered" for r in rows), timeout=60)
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(ids) == 300 and max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    retried = [r for r in rows if r["attempts"] != 1]
    assert len(rows) == 300 and not retried, platform.shell(
        "from webhooks.models import Attempt\n"
        "print(list(Attempt.objects.filter(ok=False).values_list('error', flat=True)[:5]))")
