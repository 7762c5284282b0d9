"""Bans over the real ASGI app: online by source (kicked now), anyone by identifiers,
refused at the next connect, lifted, listed; bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from game.models import AuditEntry, Ban, BanIdentifier
from tests.game.support import answer, ask, expect_request, player, send_snapshot

pytestmark = pytest.mark.django_db(transaction=True)


async def counts() -> tuple[int, int, int]:
    return (await Ban.objects.acount(), await BanIdentifier.objects.acount(), await AuditEntry.objects.acount())


async def test_a_banned_player_is_kicked_and_refused_when_they_come_back(admin, viewer, game):
    target = next(iter(game.world.online.values()))
    reply = await ask(admin, "banPlayer", {"source": target.source, "reason": "Cheating", "duration": "7d"})
    assert reply["event"] == "success"
    ban = reply["data"]["ban"]
    assert reply["data"]["message"] == f"Player {target.source} banned"
    assert ban["identifiers"] == sorted(target.person.identifiers.values())
    assert ban["reason"] == "Cheating" and ban["bannedBy"] == "boss" and ban["active"] is True
    expires = timezone.datetime.fromisoformat(ban["expiresAt"].replace("Z", "+00:00"))
    assert abs(expires - (timezone.now() + timedelta(days=7))) < timedelta(seconds=30)
    banned = await viewer.expect("playerBanned")
    assert banned["data"] == {"banId": ban["id"], "source": target.source, "name": target.person.name,
                              "reason": "Cheating", "expiresAt": ban["expiresAt"], "server": "main", "scope": "all"}
    assert game.printed(f"banned   {target.label()} until {ban['expiresAt']}: Cheating")
    assert target.source not in game.world.online
    assert await game.sim.join(target.person) is None, "refused at the door"
    assert game.printed(f"refused  {target.person.name} ({target.person.license}): banned until {ban['expiresAt']}: Cheating")
    entry = await AuditEntry.objects.aget(action="player.ban")
    assert entry.outcome == "ok" and entry.data["banId"] == ban["id"] and entry.data["duration"] == 7 * 86400


async def test_ip_addresses_are_not_banned(admin, bridge):
    p = player(4)
    p["identifiers"]["ip"] = "ip:10.0.0.4"
    await send_snapshot(bridge, [p])
    await admin.send({"event": "banPlayer", "data": {"source": 4, "reason": "x", "duration": "permanent"},
                      "requestId": "b"})
    command = await expect_request(bridge, "banPlayer")
    assert command["data"] == {"source": 4, "reason": "x", "expiresAt": None}
    await answer(bridge, command)
    ban = (await admin.expect("success"))["data"]["ban"]
    assert ban["identifiers"] == ["discord:400", "license:player4"] and ban["expiresAt"] is None
    status = await ask(bridge, "checkBan", {"identifiers": {"ip": "10.0.0.4"}})
    assert status["data"]["banned"] is False


async def test_ban_by_identifiers_needs_no_game_server(admin, people):
    reply = await ask(admin, "banPlayer", {"identifiers": ["license:abc", "discord:9"], "name": "Mallory",
                                           "reason": "Ban evasion", "duration": "permanent"})
    assert reply["data"]["message"] == "Mallory banned"
    assert reply["data"]["ban"]["identifiers"] == ["discord:9", "license:abc"]
    entry = await AuditEntry.objects.aget()
    assert (entry.action, entry.outcome, entry.target) == ("player.ban", "ok", "Mallory")
    from tests.game.support import bridge_client

    bridge = await bridge_client()
    status = await ask(bridge, "checkBan", {"identifiers": {"discord": "discord:9"}})
    assert status["data"] == {"banned": True, "reason": "Ban evasion", "expiresAt": None,
                              "banId": reply["data"]["ban"]["id"]}
    await bridge.close()


async def test_ban_by_identifiers_of_someone_online_kicks_them(admin, game):
    target = next(iter(game.world.online.values()))
    reply = await ask(admin, "banPlayer", {"identifiers": {"license": target.person.license},
                                           "reason": "x", "duration": "1h"})
    assert reply["data"]["message"] == f"Player {target.source} banned"
    assert game.printed(f"banned   {target.label()}")


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        ({"source": 1, "reason": "x", "duration": "-2h"}, "invalid_payload",
         "Invalid banPlayer: duration: Must be positive, not -2h."),
        ({"source": 1, "reason": "x", "duration": -60}, "invalid_payload",
         "Invalid banPlayer: duration: Must be positive, not -60."),
        ({"source": 1, "reason": "x", "duration": 0}, "invalid_payload",
         "Invalid banPlayer: duration: Must be positive, not 0."),
        ({"source": 1, "reason": "x", "duration": "soon"}, "invalid_payload",
         'Invalid banPlayer: duration: Must be like 30m, 2h, 7d, 2w, a number of seconds, or "permanent".'),
        ({"source": 1, "reason": "x", "duration": "999999d"}, "invalid_payload",
         'Invalid banPlayer: duration: At most 36500 days; use "permanent" for a ban without end.'),
        ({"source": 1, "reason": "x"}, "invalid_payload", "Invalid banPlayer: duration: This field is required."),
        ({"source": 1, "duration": "1h"}, "invalid_payload", "Invalid banPlayer: reason: This field is required."),
        ({"reason": "x", "duration": "1h"}, "invalid_payload",
         "Invalid banPlayer: Give source (an online player) or identifiers (anyone)."),
        ({"source": 1, "identifiers": ["license:a"], "reason": "x", "duration": "1h"}, "invalid_payload",
         "Invalid banPlayer: Give either source (an online player) or identifiers (anyone), not both."),
        ({"identifiers": ["abc"], "reason": "x", "duration": "1h"}, "invalid_payload",
         "Invalid banPlayer: identifiers: 'abc' is not of the form type:value (e.g. license:abc)."),
        ({"source": 99, "reason": "x", "duration": "1h"}, "not_found", "No online player with source 99"),
    ],
)
async def test_bad_bans_get_clear_errors_and_leave_nothing(admin, game, data, code, message):
    reply = await ask(admin, "banPlayer", data)
    assert reply["data"]["code"] == code and reply["data"]["message"] == message
    assert await counts() == (0, 0, 0)
    assert not game.printed("banned")


async def test_a_ban_the_game_server_refuses_is_not_stored(admin, bridge):
    await send_snapshot(bridge, [player(2)])
    await admin.send({"event": "banPlayer", "data": {"source": 2, "reason": "x", "duration": "1d"}, "requestId": "b"})
    await answer(bridge, await expect_request(bridge, "banPlayer"), ok=False, message="cannot drop")
    error = await admin.expect("error")
    assert error["data"]["code"] == "command_failed"
    assert await counts() == (0, 0, 1)
    entry = await AuditEntry.objects.aget()
    assert (entry.action, entry.outcome) == ("player.ban", "failed")


async def test_unban(admin, viewer, people):
    reply = await ask(admin, "banPlayer", {"identifiers": ["license:abc"], "reason": "x", "duration": "2h"})
    ban_id = reply["data"]["ban"]["id"]
    lifted = await ask(admin, "unbanPlayer", {"banId": ban_id})
    assert lifted["data"]["message"] == f"Ban {ban_id} lifted"
    assert lifted["data"]["ban"]["active"] is False and lifted["data"]["ban"]["liftedBy"] == "boss"
    assert (await viewer.expect("playerUnbanned"))["data"] == {"banId": ban_id, "name": "", "server": None}
    again = await ask(admin, "unbanPlayer", {"banId": ban_id})
    assert again["data"] == {"message": f"Ban {ban_id} is not in force (lifted or expired)", "code": "conflict"}
    missing = await ask(admin, "unbanPlayer", {"banId": 999})
    assert missing["data"] == {"message": "No ban with id 999", "code": "not_found"}
    actions = [a async for a in AuditEntry.objects.order_by("id").values_list("action", flat=True)]
    assert actions == ["player.ban", "player.unban"]
    from tests.game.support import bridge_client

    bridge = await bridge_client()
    assert (await ask(bridge, "checkBan", {"identifiers": ["license:abc"]}))["data"]["banned"] is False
    await bridge.close()


async def test_expired_bans_do_not_count(admin, bridge):
    reply = await ask(admin, "banPlayer", {"identifiers": ["license:old"], "reason": "x", "duration": "1h"})
    await Ban.objects.filter(pk=reply["data"]["ban"]["id"]).aupdate(expires_at=timezone.now() - timedelta(seconds=1))
    assert (await ask(bridge, "checkBan", {"identifiers": ["license:old"]}))["data"]["banned"] is False


async def test_get_bans_lists_searches_and_includes_lifted_on_request(admin, people):
    for name in ("Alice", "Bob", "Carol"):
        await ask(admin, "banPlayer", {"identifiers": [f"license:{name.lower()}"], "name": name,
                                       "reason": "x", "duration": "1d"})
    bob = (await ask(admin, "getBans", {"search": "bob"}))["data"]["bans"]
    assert [b["name"] for b in bob] == ["Bob"]
    await ask(admin, "unbanPlayer", {"banId": bob[0]["id"]})
    active = (await ask(admin, "getBans"))["data"]["bans"]
    assert [b["name"] for b in active] == ["Carol", "Alice"]
    everything = (await ask(admin, "getBans", {"active": False}))["data"]["bans"]
    assert [b["name"] for b in everything] == ["Carol", "Bob", "Alice"]
    by_identifier = (await ask(admin, "getBans", {"search": "license:car"}))["data"]["bans"]
    assert [b["name"] for b in by_identifier] == ["Carol"]
    assert (await ask(admin, "getBans", {"limit": 0}))["data"]["code"] == "invalid_payload"


async def test_a_ban_lasts_across_a_restart_of_the_simulated_server(admin, game, people):
    """The state is in the database: a new bridge socket (a reconnect) still refuses them."""
    target = next(iter(game.world.online.values()))
    await ask(admin, "banPlayer", {"source": target.source, "reason": "x", "duration": "1d"})
    await game.stop()
    await admin.expect("gameServerStatus")
    await game.start()
    assert game.printed("snapshot 1 players online")[-1:]
    assert await game.sim.join(target.person) is None
    rows = await database_sync_to_async(lambda: list(BanIdentifier.objects.values_list("value", flat=True)))()
    assert sorted(rows) == sorted(target.person.identifiers.values())


VARIANTS = {
    "upper case": "LICENSE:ABC123",
    "fullwidth": "license:\uff41\uff42\uff43\uff11\uff12\uff13",
    "zero-width space": "license:abc\u200b123",
    "zero-width joiner and BOM": "\ufefflicense:a\u200dbc123",
    "surrounding space": "  license:abc123 ",
}


@pytest.mark.parametrize("variant", VARIANTS)
async def test_a_ban_on_a_variant_of_an_identifier_refuses_the_player_it_names(admin, bridge, variant):
    # Identifiers are normalised once at the edge (NFKC, no format characters, lower case),
    # so a ban typed with odd characters still matches what the game server reports.
    reply = await ask(admin, "banPlayer", {"identifiers": [VARIANTS[variant]], "reason": "x",
                                           "duration": "permanent"})
    assert reply["event"] == "success", reply
    assert reply["data"]["ban"]["identifiers"] == ["license:abc123"]
    status = await ask(bridge, "checkBan", {"identifiers": {"license": "license:abc123"}})
    assert status["data"]["banned"] is True
    # ...and the other way round: a game server reporting a variant is refused too.
    status = await ask(bridge, "checkBan", {"identifiers": {"license": VARIANTS[variant]}})
    assert status["data"]["banned"] is True


async def test_python_callers_and_ban_edits_store_the_normal_form(people):
    from game import actions
    from game.audit import Actor

    from django.contrib.auth import get_user_model

    boss = await get_user_model().objects.aget(username="boss")
    actor = Actor(boss.pk, boss.username)
    ban, _ = await actions.do_ban(actor, reason="x", expires_at=None, identifiers=["STEAM:11000010A", "steam:11000010a"])
    assert ban["identifiers"] == ["steam:11000010a"]
    changed = await actions.do_change_ban(actor, ban["id"], {}, ["Discord:\u200b42", "discord:42"])
    assert changed["identifiers"] == ["discord:42"]
    assert [i async for i in BanIdentifier.objects.values_list("value", flat=True)] == ["discord:42"]


def test_the_migration_rewrites_stored_identifiers_in_the_normal_form(transactional_db):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    before, after = [("game", "0002_secissuer_audit_issuer")], [("game", "0003_normal_ban_identifiers")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    ban = old.get_model("game", "Ban").objects.create(reason="old", name="Old")
    for value in ("LICENSE:ABC", "license:a\u200bbc", "Discord:7"):
        old.get_model("game", "BanIdentifier").objects.create(ban=ban, value=value)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    assert sorted(BanIdentifier.objects.filter(ban_id=ban.pk).values_list("value", flat=True)) == [
        "discord:7", "license:abc"]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
