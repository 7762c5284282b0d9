"""A memo of what getStats and getPlayers read, so that reading the game world costs no
query while it does not change (admins poll these; the database thread is shared).

The database stays the source of truth. Every change (a bridge report, the bridge
coming or going) calls :func:`changed` after its commit and before its broadcast: it
clears this process's memo and publishes ``game.changed`` to every process's hub, so a
client reacting to the broadcast reads fresh data in any process. A read that raced a
change does not store its result (generation counter), and entries expire after
:data:`TTL` seconds in case an invalidation was lost (e.g. a Redis restart).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

from realtime.hub import Hub, before_broadcast, get_hub, hub_handler

TTL = 5.0  # seconds a memo entry may be served without a change being announced


class View:
    """One process's (one hub's) memo of reads."""

    def __init__(self) -> None:
        self.generation = 0
        self.entries: dict[str, tuple[float, Any]] = {}

    def invalidate(self) -> None:
        """Forget every entry; reads already running will not store theirs."""
        self.generation += 1
        self.entries.clear()

    async def read(self, key: str, load: Callable[[], Any]) -> Any:
        """``load()`` (synchronous ORM code) run off the loop, or its memoised result."""
        now = time.monotonic()
        entry = self.entries.get(key)
        if entry is not None and now - entry[0] < TTL:
            return entry[1]
        generation = self.generation
        value = await database_sync_to_async(load)()
        if generation == self.generation:
            self.entries[key] = (now, value)
        return value


# One per hub: a server process has one; tests get a fresh one with each event loop.
_views: weakref.WeakKeyDictionary[Hub, View] = weakref.WeakKeyDictionary()


def current() -> View:
    """This process's view (the running event loop's hub's)."""
    hub = get_hub()
    view = _views.get(hub)
    if view is None:
        view = _views[hub] = View()
    return view


async def read(key: str, load: Callable[[], Any]) -> Any:
    """See :meth:`View.read`."""
    return await current().read(key, load)


async def changed() -> None:
    """The game world changed (committed): forget memoised reads in every process."""
    current().invalidate()
    await get_hub().publish({"type": "game.changed"})


@hub_handler("game.changed")
async def _on_changed(hub: Hub, message: dict) -> None:
    view = _views.get(hub)
    if view is not None:
        view.invalidate()


@before_broadcast
def _on_broadcast(hub: Hub, message: dict) -> None:
    # With Redis history the broadcasts come through the history stream, no longer the
    # channel layer that brings game.changed, so the two may cross: a change is always
    # announced before its broadcast, so one that came through history forgets the memo
    # too, and a client reacting to it reads fresh data (realtime/history.py).
    if message.get("position") is not None:
        view = _views.get(hub)
        if view is not None:
            view.invalidate()
