"""The bodies a delivery is sent as: Standard Webhooks JSON, or a Discord message.

Standard: ``{"type", "timestamp", "data"}`` (the Standard Webhooks payload structure);
``type`` is the broadcast's name (``playerBanned``) or ``audit.<action>``
(``audit.player.kick``), ``data`` the broadcast's data or the audit entry.

Discord: a channel webhook's JSON (``content`` + ``embeds``), so that a pasted Discord
webhook URL shows readable bans, kicks, warnings and reports; every other event as an
embed of its fields. Discord's length limits are kept (content 2000, title 256,
description 4096, 25 fields of 256/1024).
"""

from __future__ import annotations

import json
from typing import Any

from webhooks.models import Delivery, Endpoint

RED, ORANGE, YELLOW, GREEN, BLUE, GREY = 0xE74C3C, 0xE67E22, 0xF1C40F, 0x2ECC71, 0x3498DB, 0x95A5A6


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def body(delivery: Delivery) -> bytes:
    """The request body of ``delivery`` in its endpoint's format."""
    if delivery.endpoint.format == Endpoint.DISCORD:
        return encode(discord(delivery.event_type, delivery.payload, delivery.created_at.isoformat()))
    return encode(standard(delivery))


def standard(delivery: Delivery) -> dict:
    return {"type": delivery.event_type, "timestamp": delivery.created_at.isoformat(), "data": delivery.payload}


def _cut(text: Any, limit: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _until(expires_at: Any) -> str:
    return f"until {expires_at}" if expires_at else "permanently"


def _describe(event_type: str, data: dict) -> tuple[str, str, int] | None:
    """(content, title, colour) for the events people read in a channel; None: generic."""
    if event_type == "playerBanned":
        who = data.get("name") or f"player {data.get('source')}"
        return f"🔨 **{who}** was banned {_until(data.get('expiresAt'))}: {data.get('reason', '')}", "Player banned", RED
    if event_type == "playerUnbanned":
        return f"✅ **{data.get('name') or 'ban ' + str(data.get('banId'))}** was unbanned", "Player unbanned", GREEN
    if event_type == "playerKicked":
        return f"👢 Player {data.get('source')} was kicked: {data.get('reason', '')}", "Player kicked", ORANGE
    if event_type == "announcement":
        return f"📢 {data.get('message', '')}", "Announcement", BLUE
    if not event_type.startswith("audit."):
        return None
    action = event_type[len("audit."):]
    actor, target = data.get("actor") or "someone", data.get("target") or ""
    details = data.get("data") if isinstance(data.get("data"), dict) else {}
    failed = data.get("outcome") == "failed"
    reason = details.get("reason")
    tail = (f": {reason}" if reason else "") + (f" (failed: {data.get('detail')})" if failed else "")
    verbs = {
        "player.ban": ("🔨", "banned", RED), "player.kick": ("👢", "kicked", ORANGE),
        "player.unban": ("✅", "unbanned", GREEN), "player.warn": ("⚠️", "warned", YELLOW),
    }
    tried = {"banned": "tried to ban", "kicked": "tried to kick", "unbanned": "tried to unban", "warned": "tried to warn"}
    if action in verbs:
        icon, verb, colour = verbs[action]
        attempt = tried[verb] if failed else verb
        return f"{icon} **{actor}** {attempt} {target}{tail}", f"{verb.capitalize()}: {target}", GREY if failed else colour
    if action.startswith("report"):
        return f"🚩 Report ({action}) by **{actor}**: {target}{tail}", f"Report: {target}", YELLOW
    return f"**{actor}**: {action} {target}{tail}", action, GREY if failed else BLUE


def discord(event_type: str, data: Any, timestamp: str) -> dict:
    """A Discord webhook message for one event."""
    data = data if isinstance(data, dict) else {"data": data}
    described = _describe(event_type, data)
    fields = []
    source = data.get("data") if event_type.startswith("audit.") and isinstance(data.get("data"), dict) else data
    for key, value in list(source.items())[:25]:
        if value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        fields.append({"name": _cut(key, 256), "value": _cut(text, 1024), "inline": len(text) < 40})
    if described is None:
        content, title, colour = f"**{event_type}**", event_type, BLUE
    else:
        content, title, colour = described
    embed = {"title": _cut(title, 256), "color": colour, "timestamp": timestamp, "fields": fields,
             "footer": {"text": _cut(event_type, 2048)}}
    # No pings from text players choose (names, reasons): allowed_mentions parses none.
    return {"content": _cut(content, 2000), "embeds": [embed], "allowed_mentions": {"parse": []}}
