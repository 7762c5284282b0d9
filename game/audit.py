"""The audit trail of admin actions: who (user and token jti), what, on whom, when, and
the outcome the game server reported. Synchronous ORM code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from game.formats import iso
from game.models import AuditEntry
from realtime.registry import Request


@dataclass(frozen=True)
class Actor:
    """Who acts: a platform user, through a token (jti) when on the socket; ``issuer``:
    the other user who minted that token (audited "issuer on behalf of user")."""

    user_id: int | None
    username: str
    token_jti: str = ""
    issuer: str = ""


# Sent with ``entry`` (the entry as :func:`as_event` gives it) when an action's entry is
# written finished (ok or failed), inside the transaction that writes it: a receiver's own
# writes (webhooks' outbox rows) commit or roll back with the entry.
action_recorded = Signal()


def as_event(entry: AuditEntry) -> dict[str, Any]:
    """A finished entry as other apps are told of it."""
    return {
        "id": entry.pk, "at": iso(entry.at), "actor": entry.actor_name, "issuer": entry.issuer_name or None,
        "action": entry.action, "target": entry.target, "data": entry.data,
        "outcome": entry.outcome, "detail": entry.detail,
    }


def _announce(entry: AuditEntry) -> None:
    if action_recorded.has_listeners():
        action_recorded.send(sender=AuditEntry, entry=as_event(entry))


def actor_of(request: Request) -> Actor:
    """The user and token behind a socket request (the token's issuer from the socket's
    auth state, set once at auth: no query per request)."""
    conn = request.connection
    return Actor(conn.user_id, request.username or "", request.token_jti or "", getattr(conn, "token_issuer", None) or "")


def start(actor: Actor, action: str, target: str, data: dict[str, Any]) -> int:
    """Record an action as pending; its entry id (to :func:`finish`)."""
    return AuditEntry.objects.create(
        actor_id=actor.user_id, actor_name=actor.username, issuer_name=actor.issuer, token_jti=actor.token_jti,
        action=action, target=target[:300], data=data,
    ).pk


def finish(entry_id: int, outcome: str, detail: str = "", **data: Any) -> None:
    """Set a pending action's outcome (``ok`` or ``failed``), adding ``data`` to it."""
    with transaction.atomic():
        entry = AuditEntry.objects.get(pk=entry_id)
        entry.outcome, entry.detail = outcome, detail
        entry.data = {**entry.data, **data}
        entry.save(update_fields=["outcome", "detail", "data"])
        _announce(entry)


def record(actor: Actor, action: str, target: str, data: dict[str, Any], outcome: str,
           detail: str = "") -> int:
    """Record a finished action in one write (with what :data:`action_recorded` adds); its entry id."""
    with transaction.atomic():
        entry = AuditEntry.objects.create(
            actor_id=actor.user_id, actor_name=actor.username, issuer_name=actor.issuer, token_jti=actor.token_jti,
            action=action, target=target[:300], data=data, outcome=outcome, detail=detail,
        )
        _announce(entry)
    return entry.pk


def entries(limit: int, before: int | None = None, action: str | None = None) -> dict:
    """Newest entries first, ``limit`` at most, older than entry ``before`` when given."""
    rows = AuditEntry.objects.order_by("-id")
    if before is not None:
        rows = rows.filter(id__lt=before)
    if action:
        rows = rows.filter(action=action)
    page = list(
        rows.values("id", "at", "actor_name", "issuer_name", "token_jti", "action", "target", "data", "outcome", "detail")[
            : limit + 1
        ]
    )
    more = len(page) > limit
    page = page[:limit]
    return {
        "entries": [
            {
                "id": e["id"], "at": iso(e["at"]), "actor": e["actor_name"], "issuer": e["issuer_name"] or None,
                "tokenJti": e["token_jti"],
                "action": e["action"], "target": e["target"], "data": e["data"],
                "outcome": e["outcome"], "detail": e["detail"],
            }
            for e in page
        ],
        "nextBefore": page[-1]["id"] if more else None,
    }
