"""Issue 13 #10: ip: identifiers are shown on the socket only to holders of players.ip."""

from __future__ import annotations

import pytest

from tests.game.support import ask, player, send_snapshot

pytestmark = pytest.mark.django_db(transaction=True)


async def test_get_players_hides_ip_identifiers_without_players_ip(admin, viewer, bridge):
    p = player(4)
    p["identifiers"]["ip"] = "ip:10.0.0.4"
    await send_snapshot(bridge, [p])
    seen = (await ask(viewer, "getPlayers"))["data"]["players"]
    assert seen[0]["identifiers"] == {"license": "license:player4", "discord": "discord:400"}
    # admin implies players.ip: the spec's view, exactly.
    full = (await ask(admin, "getPlayers"))["data"]["players"]
    assert full[0]["identifiers"]["ip"] == "ip:10.0.0.4"
    # Both answers come from the memo: asking again re-encodes nothing, and stays split.
    assert "ip" not in (await ask(viewer, "getPlayers"))["data"]["players"][0]["identifiers"]
