"""The online players and their characters, as the bridge reports them (synchronous ORM
code; socket handlers call it through ``database_sync_to_async``).

Each function is one transaction, so a refused or failed report leaves nothing half-done.
"""

from __future__ import annotations

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


def _store_players(players: list[dict]) -> None:
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
                source=p["source"], name=p["name"], license=p["identifiers"].get("license", ""),
                identifiers=p["identifiers"],
                character_id=p["character"]["id"] if p.get("character") else None,
                joined_at=now,
            )
            for p in players
        ],
        update_conflicts=True, unique_fields=["source"], update_fields=PLAYER_FIELDS,
        batch_size=500,
    )


def apply_snapshot(client_id: str, username: str, data: dict) -> str | None:
    """Replace the whole game state with a snapshot; the previous bridge's clientId."""
    now = timezone.now()
    with transaction.atomic():
        server, _ = GameServer.objects.select_for_update().get_or_create(pk=GameServer.SINGLETON)
        previous = server.bridge_client_id or None
        server.name = data["serverName"]
        server.max_players = data["maxPlayers"]
        server.started_at = now - timedelta(seconds=data["uptime"])
        server.bridge_client_id = client_id
        server.bridge_username = username or ""
        server.connected_at = now
        server.save()
        Player.objects.all().delete()
        _store_players(data["players"])
    return previous


def add_snapshot_players(client_id: str, players: list[dict]) -> None:
    """More players of the snapshot ``client_id`` sent (a snapshot spanning several frames)."""
    with transaction.atomic():
        if not GameServer.objects.filter(pk=GameServer.SINGLETON, bridge_client_id=client_id).exists():
            raise Conflict("snapshotPlayers continues a serverSnapshot: send serverSnapshot first")
        _store_players(players)


def add_player(source: int, name: str, identifiers: dict) -> None:
    """A player joined: one INSERT ... ON CONFLICT (a reused source replaces the old entry)."""
    with presence_write():
        Player.objects.bulk_create(
            [Player(source=source, name=name, license=identifiers.get("license", ""),
                    identifiers=identifiers, character=None, joined_at=timezone.now())],
            update_conflicts=True, unique_fields=["source"], update_fields=PLAYER_FIELDS,
        )


def remove_player(source: int) -> str:
    """A player left: their name, or :class:`NotFound`."""
    with presence_write():
        if connection.features.can_return_columns_from_insert:  # RETURNING: SQLite 3.35+, PostgreSQL
            table = connection.ops.quote_name(Player._meta.db_table)
            with connection.cursor() as cursor:
                # One statement that also says who left (a third of the ORM's select + delete).
                cursor.execute(f"DELETE FROM {table} WHERE source = %s RETURNING name", [source])
                row = cursor.fetchone()
            name = row[0] if row else None
        else:
            name = Player.objects.filter(source=source).values_list("name", flat=True).first()
            Player.objects.filter(source=source).delete()
    if name is None:
        raise NotFound(f"No online player with source {source}")
    return name


def select_character(source: int, character: dict) -> None:
    """A player chose a character: store it and link it to the player."""
    with presence_write():
        license_ = Player.objects.filter(source=source).values_list("license", flat=True).first()
        if license_ is None:
            raise NotFound(f"No online player with source {source}")
        Character.objects.bulk_create(
            [_character(character, license_)], update_conflicts=True, unique_fields=["id"],
            update_fields=CHARACTER_FIELDS,
        )
        Player.objects.filter(source=source).update(character_id=character["id"])


def update_character(source: int, changes: dict) -> dict:
    """A player's character changed (job, cash, bank, name): the character afterwards."""
    with presence_write():
        row = Player.objects.filter(source=source).values_list("character_id").first()
        if row is None:
            raise NotFound(f"No online player with source {source}")
        if row[0] is None:
            raise Conflict(f"Player {source} has no character selected")
        Character.objects.filter(id=row[0]).update(**changes, updated_at=timezone.now())
        return Character.objects.get(id=row[0]).as_spec()


def player_summary(source: int) -> dict | None:
    """An online player's source, name and identifiers, or None."""
    return (
        Player.objects.filter(source=source).values("source", "name", "license", "identifiers").first()
    )


def find_online_by_identifiers(values: list[str]) -> dict | None:
    """The online player holding any of these identifiers (matched by license), or None."""
    licenses = [v for v in values if v.startswith("license:")]
    if not licenses:
        return None
    return (
        Player.objects.filter(license__in=licenses)
        .values("source", "name", "license", "identifiers")
        .first()
    )


def without_ip(identifiers: dict) -> dict:
    """A player's identifiers less their ip: address (shown only to players.ip holders)."""
    return {kind: value for kind, value in identifiers.items() if kind != "ip" and not str(value).startswith("ip:")}


def players() -> list[dict]:
    """Every online player in the spec's shape, in one query whatever their number."""
    rows = Player.objects.order_by("source").values_list(
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


def server_state() -> dict | None:
    """The game server row with its online player count (one query), or None."""
    count = f"SELECT COUNT(*) FROM {connection.ops.quote_name(Player._meta.db_table)}"
    return (
        GameServer.objects.filter(pk=GameServer.SINGLETON)
        .annotate(online_players=RawSQL(count, ()))
        .values("name", "max_players", "started_at", "bridge_client_id", "online_players")
        .first()
    )
