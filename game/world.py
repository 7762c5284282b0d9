"""The online players and their characters, as the bridge reports them (synchronous ORM
code; socket handlers call it through ``database_sync_to_async``).

Each function is one transaction, so a refused or failed report leaves nothing half-done.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from game.models import Character, GameServer, Player
from realtime.protocol import Conflict, NotFound

PLAYER_FIELDS = ["name", "license", "identifiers", "character", "joined_at"]


@contextmanager
def presence_write() -> Iterator[None]:
    """The transaction of one change report from the bridge (join, leave, character).

    On PostgreSQL it commits asynchronously (``SET LOCAL synchronous_commit TO OFF``):
    the commit does not wait for the WAL flush, which is most of a join's cost and the
    fan-out benchmark's trigger. Only a database *crash* can lose such a commit (the last
    few hundred milliseconds), and these rows mirror the game server's own state, which
    every bridge snapshot rebuilds. Bans, jobs and the audit trail commit durably.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
CHARACTER_FIELDS = ["name", "job", "cash", "bank", "license", "updated_at"]


def _character(data: dict, license_: str) -> Character:
    return Character(
        id=data["id"], name=data["name"], job=data["job"], cash=data["cash"], bank=data["bank"],
        license=license_, updated_at=timezone.now(),
    )


def _store_players(server_id: int, players: list[dict]) -> None:
    """Upsert characters, then players (one statement each, whatever the count)."""
    characters = {
        p["character"]["id"]: _character(p["character"], p["identifiers"].get("license", ""))
        for p in players
        if p.get("character")
    }
    if characters:
        Character.objects.bulk_create(
            list(characters.values()), update_conflicts=True, unique_fields=["id"],
            update_fields=CHARACTER_FIELDS, batch_size=500,
        )
    now = timezone.now()
    Player.objects.bulk_create(
        [
            Player(
                server_id=server_id, source=p["source"], name=p["name"],
                license=p["identifiers"].get("license", ""), identifiers=p["identifiers"],
                character_id=p["character"]["id"] if p.get("character") else None,
                joined_at=now,
            )
            for p in players
        ],
        update_conflicts=True, unique_fields=["server", "source"], update_fields=PLAYER_FIELDS,
        batch_size=500,
    )


def _told(server_id: int) -> dict[int, dict]:
    """The players clients were last told are online on the server: source -> {name, license}."""
    return {
        row["source"]: row
        for row in Player.objects.filter(server_id=server_id).values("source", "name", "license")
    }


def difference(before: dict[int, dict], players: list[dict]) -> tuple[list[dict], list[dict]]:
    """(left, joined) between what clients were told and a snapshot's players: a player
    whose source now holds someone else (another name or license) leaves and joins."""
    after = {
        p["source"]: {"source": p["source"], "name": p["name"], "license": p["identifiers"].get("license", "")}
        for p in players
    }
    same = {
        source for source, now in after.items()
        if source in before and (before[source]["name"], before[source]["license"]) == (now["name"], now["license"])
    }
    left = [before[s] for s in sorted(before) if s not in same]
    joined = [after[s] for s in sorted(after) if s not in same]
    return left, joined


def apply_snapshot(server_id: int, client_id: str, username: str, data: dict) -> dict:
    """Replace a server's whole state with a snapshot: {previous (the previous bridge's
    clientId or None), left, joined (the difference clients must be told), run_id}."""
    now = timezone.now()
    with transaction.atomic():
        server = GameServer.objects.select_for_update().get(pk=server_id)
        previous = server.bridge_client_id or None
        before = _told(server_id)
        server.reported_name = data["serverName"]
        server.max_players = data["maxPlayers"]
        server.started_at = now - timedelta(seconds=data["uptime"])
        if previous != client_id or not server.run_id:
            server.run_id = uuid.uuid4().hex
        server.bridge_client_id = client_id
        server.bridge_username = username or ""
        server.connected_at = now
        server.save()
        Player.objects.filter(server_id=server_id).delete()
        _store_players(server_id, data["players"])
    left, joined = difference(before, data["players"])
    return {"previous": previous, "left": left, "joined": joined, "run_id": server.run_id}


def add_snapshot_players(server_id: int, client_id: str, players: list[dict]) -> tuple[list[dict], list[dict]]:
    """More players of the snapshot ``client_id`` sent (a snapshot spanning several frames);
    (left, joined): what clients must be told (see :func:`difference`)."""
    with transaction.atomic():
        if not GameServer.objects.filter(pk=server_id, bridge_client_id=client_id).exists():
            raise Conflict("snapshotPlayers continues a serverSnapshot: send serverSnapshot first")
        before = Player.objects.filter(server_id=server_id, source__in=[p["source"] for p in players])
        before = {row["source"]: row for row in before.values("source", "name", "license")}
        _store_players(server_id, players)
    return difference(before, players)


def add_player(server_id: int, source: int, name: str, identifiers: dict) -> None:
    """A player joined: one INSERT ... ON CONFLICT (a reused source replaces the old entry)."""
    with presence_write():
        Player.objects.bulk_create(
            [Player(server_id=server_id, source=source, name=name, license=identifiers.get("license", ""),
                    identifiers=identifiers, character=None, joined_at=timezone.now())],
            update_conflicts=True, unique_fields=["server", "source"], update_fields=PLAYER_FIELDS,
        )


def remove_player(server_id: int, source: int) -> str:
    """A player left: their name, or :class:`NotFound`."""
    with presence_write():
        if connection.features.can_return_columns_from_insert:  # RETURNING: SQLite 3.35+, PostgreSQL
            table = connection.ops.quote_name(Player._meta.db_table)
            with connection.cursor() as cursor:
                # One statement that also says who left (a third of the ORM's select + delete).
                cursor.execute(
                    f"DELETE FROM {table} WHERE server_id = %s AND source = %s RETURNING name",
                    [server_id, source],
                )
                row = cursor.fetchone()
            name = row[0] if row else None
        else:
            rows = Player.objects.filter(server_id=server_id, source=source)
            name = rows.values_list("name", flat=True).first()
            rows.delete()
    if name is None:
        raise NotFound(f"No online player with source {source}")
    return name


def select_character(server_id: int, source: int, character: dict) -> None:
    """A player chose a character: store it and link it to the player."""
    with presence_write():
        rows = Player.objects.filter(server_id=server_id, source=source)
        license_ = rows.values_list("license", flat=True).first()
        if license_ is None:
            raise NotFound(f"No online player with source {source}")
        Character.objects.bulk_create(
            [_character(character, license_)], update_conflicts=True, unique_fields=["id"],
            update_fields=CHARACTER_FIELDS,
        )
        rows.update(character_id=character["id"])


def update_character(server_id: int, source: int, changes: dict) -> dict:
    """A player's character changed (job, cash, bank, name): the character afterwards."""
    with presence_write():
        row = Player.objects.filter(server_id=server_id, source=source).values_list("character_id").first()
        if row is None:
            raise NotFound(f"No online player with source {source}")
        if row[0] is None:
            raise Conflict(f"Player {source} has no character selected")
        Character.objects.filter(id=row[0]).update(**changes, updated_at=timezone.now())
        return Character.objects.get(id=row[0]).as_spec()


def player_summary(server_id: int, source: int) -> dict | None:
    """An online player's source, name and identifiers, or None."""
    return (
        Player.objects.filter(server_id=server_id, source=source)
        .values("source", "name", "license", "identifiers").first()
    )


def find_online_by_identifiers(values: list[str], server_id: int | None = None) -> list[dict]:
    """The online players holding any of these identifiers (matched by license), on every
    server or on one; each with its ``server_id``."""
    licenses = [v for v in values if v.startswith("license:")]
    if not licenses:
        return []
    rows = Player.objects.filter(license__in=licenses)
    if server_id is not None:
        rows = rows.filter(server_id=server_id)
    return list(rows.order_by("server_id", "source").values("server_id", "source", "name", "license", "identifiers"))


def without_ip(identifiers: dict) -> dict:
    """A player's identifiers less their ip: address (shown only to players.ip holders)."""
    return {kind: value for kind, value in identifiers.items() if kind != "ip" and not str(value).startswith("ip:")}


def players(server_id: int) -> list[dict]:
    """Every online player of a server in the spec's shape, in one query whatever their number."""
    rows = Player.objects.filter(server_id=server_id).order_by("source").values_list(
        "source", "name", "identifiers", "character_id", "character__name", "character__job",
        "character__cash", "character__bank",
    )
    return [
        {
            "source": source,
            "name": name,
            "identifiers": identifiers,
            "character": None
            if char_id is None
            else {"id": char_id, "name": c_name, "job": job, "cash": cash, "bank": bank},
        }
        for source, name, identifiers, char_id, c_name, job, cash, bank in rows
    ]


STATE_FIELDS = ("id", "slug", "name", "reported_name", "max_players", "started_at", "run_id",
                "bridge_client_id", "is_default")


def server_states(server_id: int | None = None) -> list[dict]:
    """The game servers (or one) with their online player counts (one query)."""
    table = connection.ops.quote_name(Player._meta.db_table)
    outer = connection.ops.quote_name(GameServer._meta.db_table)
    count = f"SELECT COUNT(*) FROM {table} WHERE {table}.server_id = {outer}.id"
    rows = GameServer.objects.all() if server_id is None else GameServer.objects.filter(pk=server_id)
    return list(rows.annotate(online_players=RawSQL(count, ())).values(*STATE_FIELDS, "online_players"))


def server_state(server_id: int) -> dict | None:
    """One game server's row with its online player count, or None."""
    rows = server_states(server_id)
    return rows[0] if rows else None
