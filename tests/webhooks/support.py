from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from channels.db import database_sync_to_async

from game.audit import Actor
from webhooks import services
from webhooks.models import Delivery, Endpoint
from webhooks.sender import Sender

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OWNER = Actor(None, "owner")


def endpoint(url: str, events: list[str], *, fmt: str = Endpoint.STANDARD, secret: str = SECRET) -> Endpoint:
    return services.save_endpoint(OWNER, Endpoint(name="test", url=url, events=events, format=fmt), secret)


async def aendpoint(*args, **kwargs) -> Endpoint:  # noqa: ANN002, ANN003
    return await database_sync_to_async(endpoint)(*args, **kwargs)


def deliveries(**filters) -> list[Delivery]:  # noqa: ANN003
    return list(Delivery.objects.filter(**filters).order_by("id").prefetch_related("attempt_log"))


adeliveries = database_sync_to_async(deliveries)


async def drain(sender: Sender, done: Callable[[], bool], timeout: float = 15) -> None:
    """Run the sender's rounds until ``done()`` (checked off the loop) or fail after ``timeout``."""
    check = database_sync_to_async(done)
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("the sender did not get there in time")
        if not await sender.run_once():
            await asyncio.sleep(0.01)  # rows are due again after their (tiny) backoff
