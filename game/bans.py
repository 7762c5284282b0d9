"""Bans: stored by identifier, checked by the bridge when a player connects. Synchronous
ORM code; every change is one transaction with its audit entry."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Prefetch, Q
from django.utils import timezone

from game import audit
from game.audit import Actor
from game.formats import iso
from game.models import AuditEntry, Ban, BanIdentifier
from realtime.protocol import Conflict, InvalidPayload, NotFound

# IP addresses are shared (households, NAT, VPNs) and change: banning them hits others.
NOT_BANNED_TYPES = {"ip"}


def bannable(identifiers: dict[str, str]) -> list[str]:
    """The identifier values a ban of this player matches (everything but ``ip``)."""
    values = sorted(v for k, v in identifiers.items() if k not in NOT_BANNED_TYPES)
    if not values:
        raise InvalidPayload("The player has no identifiers a ban could match (ip is not banned)")
    return values


def expiry(duration: timedelta | None) -> datetime | None:
    """When a ban of ``duration`` ends; None for permanent."""
    return None if duration is None else timezone.now() + duration


def create(
    actor: Actor, values: list[str], name: str, reason: str, expires_at: datetime | None,
    server_id: int | None = None,
) -> dict:
    """Store a ban (call inside the transaction that audits it), of every game server or
    of ``server_id`` only; the ban as sent out."""
    ban = Ban.objects.create(
        name=name, reason=reason, expires_at=expires_at, banned_by_id=actor.user_id,
        banned_by_name=actor.username, server_id=server_id,
    )
    BanIdentifier.objects.bulk_create([BanIdentifier(ban=ban, value=v) for v in values])
    return as_dict(ban, values)


def ban_offline(
    actor: Actor, values: list[str], name: str, reason: str, expires_at: datetime | None, data: dict,
    server_id: int | None = None,
) -> dict:
    """Ban by identifiers (no game server needed): the ban and its audit entry, atomically."""
    with transaction.atomic():
        ban = create(actor, values, name, reason, expires_at, server_id)
        audit.record(
            actor, "player.ban", name or ", ".join(values), {**data, "banId": ban["id"]},
            AuditEntry.OK, "stored; the game server refuses these identifiers at connect",
        )
    return ban


def lift(actor: Actor, ban_id: int) -> dict:
    """Lift an active ban, audited; the ban as it is now."""
    with transaction.atomic():
        ban = Ban.objects.select_for_update().filter(pk=ban_id).first()
        if ban is None:
            raise NotFound(f"No ban with id {ban_id}")
        if not ban.is_active():
            raise Conflict(f"Ban {ban_id} is not in force (lifted or expired)")
        ban.lifted_at, ban.lifted_by_name = timezone.now(), actor.username
        ban.save(update_fields=["lifted_at", "lifted_by_name"])
        values = list(ban.identifiers.values_list("value", flat=True))
        audit.record(actor, "player.unban", ban.name or ", ".join(values), {"banId": ban_id},
                     AuditEntry.OK)
    return as_dict(ban, values)


def status(values: list[str], server_id: int | None = None) -> dict:
    """Whether any of these identifiers is banned now on ``server_id`` (a ban of every
    server, or of that one): the bridge's ``banStatus``."""
    ban = (
        Ban.objects.active()
        .filter(identifiers__value__in=values)
        .filter(Q(server__isnull=True) | Q(server_id=server_id))
        .order_by(F("expires_at").desc(nulls_first=True))
        .values("id", "reason", "expires_at")
        .first()
    )
    if ban is None:
        return {"banned": False, "reason": None, "expiresAt": None}
    return {"banned": True, "reason": ban["reason"], "expiresAt": iso(ban["expires_at"]), "banId": ban["id"]}


def listing(active: bool, search: str, limit: int, server_id: int | None = None) -> list[dict]:
    """Bans newest first (two queries whatever their number), filtered by name or
    identifier, and to those holding on ``server_id`` when given."""
    rows = Ban.objects.active() if active else Ban.objects.all()
    if server_id is not None:
        rows = rows.filter(Q(server__isnull=True) | Q(server_id=server_id))
    if search:
        rows = rows.filter(
            Q(name__icontains=search) | Q(reason__icontains=search)
            | Q(identifiers__value__icontains=search)
        ).distinct()
    rows = rows.select_related("server").prefetch_related(Prefetch("identifiers", queryset=BanIdentifier.objects.order_by("value")))
    return [as_dict(ban, [i.value for i in ban.identifiers.all()]) for ban in rows[:limit]]


def as_dict(ban: Ban, values: list[str]) -> dict:
    """A ban as the socket shows it."""
    return {
        "id": ban.pk,
        "name": ban.name,
        "identifiers": values,
        "reason": ban.reason,
        "createdAt": iso(ban.created_at),
        "expiresAt": iso(ban.expires_at),
        "bannedBy": ban.banned_by_name,
        "active": ban.is_active(),
        "liftedAt": iso(ban.lifted_at),
        "liftedBy": ban.lifted_by_name or None,
        "server": ban.server.slug if ban.server_id else None,
    }
