"""The event types an endpoint may subscribe to (for forms' help; any name is accepted)."""

from __future__ import annotations

from realtime.registry import registry

# The platform's own protocol frames are replies to one client, never broadcasts.
PROTOCOL = {"connected", "authenticated", "error", "pong", "ack", "tokenExpiring", "tokenExpired",
            "permissionsChanged", "bridgeReplaced"}
AUDIT_ACTIONS = ("player.ban", "player.unban", "player.kick", "ban.change", "ban.delete", "job.create",
                 "job.update", "job.delete", "token.mint", "token.revoke", "webhook.create", "webhook.change",
                 "webhook.delete", "webhook.redeliver")


def known() -> list[str]:
    """Broadcast names the platform declares, then ``audit.<action>`` names."""
    broadcasts = [n for n in registry.outbound() if n not in PROTOCOL]
    return broadcasts + [f"audit.{a}" for a in AUDIT_ACTIONS]
