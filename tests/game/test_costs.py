"""What grows must not cost more queries (issue 7): getPlayers with 2,048 players online,
broadcasts caused by the bridge to many sockets, the fan-out trigger's one write."""

from __future__ import annotations

import asyncio

import pytest
from django.test import override_settings

from game import view
from game.simulator import World
from tests.game.support import SimulatedServer, ask, bridge_client, count_queries, game_client
from tests.helpers import spec_token

pytestmark = pytest.mark.django_db(transaction=True)


async def warm_server_memo(admin) -> None:  # noqa: ANN001
    """Which server a request means is memoised apart from the game world's reads
    (game.server.target): measure the reads with it warm and the world's memo cold."""
    await ask(admin, "getStats", request_id="warm")
    await view.changed()


async def queries_of_get_players(admin) -> tuple[int, int]:  # noqa: ANN001
    await warm_server_memo(admin)
    with count_queries() as queries:
        players = (await ask(admin, "getPlayers"))["data"]["players"]
    return len(players), len(statements(queries))


async def test_get_players_costs_the_same_few_queries_for_3_or_2048_players(admin, people):
    small = await SimulatedServer(World(3, online=3, seed=1)).start()
    few = await queries_of_get_players(admin)
    await small.stop()
    full = await SimulatedServer(World(2048, online=2048, seed=1, max_players=2048)).start()
    try:
        assert full.printed("snapshot 2048 players online")
        many = await queries_of_get_players(admin)
    finally:
        await full.stop()
    assert few == (3, 2) and many == (2048, 2), "the bridge's row and one select of players, characters joined"


async def test_get_stats_is_one_query(admin, game):
    await warm_server_memo(admin)
    with count_queries() as queries:
        stats = (await ask(admin, "getStats"))["data"]
    assert stats["onlinePlayers"] == 2
    assert len(statements(queries)) == 1


@override_settings(WS_MAX_SOCKETS_PER_USER=0)  # 40 sockets of one user, as a wall of dashboards
async def test_the_fanout_trigger_is_one_write_whatever_the_number_of_sockets(people):
    clients = [await game_client(spec_token("viewer", ["players.view"])) for _ in range(40)]
    trigger = await bridge_client()
    await ask(trigger, "playerJoined", {"source": 1, "name": "warm-up"})  # settles the bridge role
    await asyncio.gather(*(c.expect("playerJoined") for c in clients))
    for rounds, source in enumerate((2, 3), start=1):
        with count_queries() as queries:
            await trigger.send({"event": "playerJoined", "data": {
                "source": source, "name": f"bench-{source}", "license": f"license:{source}",
                "identifiers": {"license": f"license:{source}"}}})
            frames = await asyncio.gather(*(c.expect("playerJoined") for c in clients))
        assert {f["data"]["name"] for f in frames} == {f"bench-{source}"}
        sql = statements(queries)
        assert len(sql) == 1 and sql[0].startswith("INSERT INTO") and "ON CONFLICT" in sql[0], sql
    with count_queries() as queries:
        await trigger.send({"event": "playerLeft", "data": {"source": 3, "reason": "bench"}})
        await asyncio.gather(*(c.expect("playerLeft") for c in clients))
    [sql] = statements(queries)
    assert sql.startswith("DELETE") and "RETURNING" in sql, "one statement says who left"
    for client in clients + [trigger]:
        await client.close()


async def test_a_snapshot_of_2048_players_costs_statements_per_frame_not_per_player(people):
    server = SimulatedServer(World(2048, online=2048, seed=2, max_players=2048))
    with count_queries() as queries:
        await server.start()
    await server.stop()
    [line] = server.printed("snapshot 2048 players online")
    frames = int(line.rsplit("(", 1)[1].split()[0])
    assert 8 <= frames <= 16, line
    # Per frame: the bridge check, a count for the status broadcast and bulk upserts of
    # characters and players (SQLite splits a bulk insert at 999 parameters: 2 each).
    assert len(statements(queries)) <= 7 * frames + 10, len(statements(queries))


def statements(queries) -> list[str]:  # noqa: ANN001
    """The SQL sent, without transaction control (BEGIN, SAVEPOINT, RELEASE, SET LOCAL)."""
    control = ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK", "SET LOCAL")
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(control)]


async def test_reads_cost_no_query_until_the_world_changes(admin, viewer, game):
    await ask(admin, "getPlayers")
    await ask(admin, "getStats")
    with count_queries() as queries:
        players = (await ask(viewer, "getPlayers"))["data"]["players"]
        stats = (await ask(viewer, "getStats"))["data"]
    assert statements(queries) == []
    assert len(players) == stats["onlinePlayers"] == 2
    joined = await game.sim.join(game.world.offline()[0])
    await viewer.expect("playerJoined")
    players = (await ask(viewer, "getPlayers"))["data"]["players"]
    assert joined.source in [p["source"] for p in players], "a change is seen at once"
    assert (await ask(viewer, "getStats"))["data"]["onlinePlayers"] == 3
    await game.sim.leave(joined, "Exiting")
    await viewer.expect("playerLeft")
    assert (await ask(viewer, "getStats"))["data"]["onlinePlayers"] == 2
