"""The read memo: a read that raced a change is not kept; entries expire."""

from __future__ import annotations

import asyncio
import threading

from game import view
from game.view import View


async def test_a_read_that_raced_a_change_is_not_kept():
    memo = View()
    started, release = threading.Event(), threading.Event()

    def load() -> str:
        started.set()
        release.wait(5)
        return "before the change"

    reading = asyncio.ensure_future(memo.read("players", load))
    assert await asyncio.to_thread(started.wait, 5)
    memo.invalidate()  # a change committed while the read was running
    release.set()
    assert await reading == "before the change"
    assert "players" not in memo.entries
    assert await memo.read("players", lambda: "after") == "after"
    assert await memo.read("players", lambda: "not loaded again") == "after"


async def test_entries_expire(monkeypatch):
    memo = View()
    assert await memo.read("state", lambda: 1) == 1
    monkeypatch.setattr(view, "TTL", 0.0)
    assert await memo.read("state", lambda: 2) == 2


async def test_a_change_announced_through_the_hub_clears_the_memo():
    memo = view.current()
    await memo.read("state", lambda: "old")
    from realtime.hub import get_hub

    hub = get_hub()
    await hub._handle({"type": "game.changed"})  # as delivered from another process
    assert memo.entries == {}
