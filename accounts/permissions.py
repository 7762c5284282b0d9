"""The permission catalogue of the spec, plus the platform's own ``gameserver`` grant."""

from __future__ import annotations

from collections.abc import Iterable

ADMIN = "admin"
GAMESERVER = "gameserver"

# name -> description, in the spec's order.
SPEC_PERMISSIONS: dict[str, str] = {
    ADMIN: "Full access (implies all permissions)",
    "players.view": "View player list",
    "players.kick": "Kick players",
    "players.ban": "Ban players",
    "stats.view": "View server statistics",
    "jobs.view": "View jobs",
    "jobs.manage": "Modify jobs",
    "announce": "Send announcements",
}
# The platform's own, beyond the spec. All but ``gameserver`` are implied by ``admin``
# (the spec: admin "implies all permissions").
PLATFORM_PERMISSIONS: dict[str, str] = {
    "bans.view": "View bans (without the right to ban)",
    "players.ip": "See players' ip: identifiers",
    GAMESERVER: "Act as the game server's bridge (not implied by admin)",
}
CATALOGUE: dict[str, str] = {**SPEC_PERMISSIONS, **PLATFORM_PERMISSIONS}
IMPLIED_BY_ADMIN = frozenset(CATALOGUE) - {GAMESERVER}


def expand(permissions: Iterable[str]) -> frozenset[str]:
    """Known permissions, with everything ``admin`` implies; unknown names are dropped."""
    known = frozenset(p for p in permissions if p in CATALOGUE)
    if ADMIN in known:
        known |= IMPLIED_BY_ADMIN
    return known


def ordered(permissions: Iterable[str]) -> list[str]:
    """Permissions in catalogue order (stable output for clients and tests)."""
    held = set(permissions)
    return [name for name in CATALOGUE if name in held]


def unknown(permissions: Iterable[str]) -> list[str]:
    """The names that are not in the catalogue."""
    return [p for p in permissions if p not in CATALOGUE]
