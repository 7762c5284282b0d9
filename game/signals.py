"""What the game app does when other apps announce something (connected in GameConfig.ready).

- realtime's ``client_disconnected``: the bridge's socket closing takes its players offline
  (game.server.on_client_disconnected).
- A token minted or revoked (accounts.IssuedToken saved): an audit entry. Tokens are
  minted through ``register_issued_token`` (admin page, ``ws_token``, ``generateToken``);
  a revocation is audited when it is saved through the model (``token.save()``), which
  is how Django admin's actions and forms save it.
"""

from __future__ import annotations

from typing import Any

from game.audit import Actor, record
from game.models import AuditEntry


def _user_actor(user: Any, fallback: str) -> Actor:
    if user is not None and getattr(user, "pk", None):
        return Actor(user.pk, user.get_username())
    return Actor(None, fallback)


def on_token_saved(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    """Audit a token's minting, and its revocation the first time it is saved revoked."""
    target = f"token {instance.jti} of {instance.user.get_username()}"
    if created and instance.session_hash:
        return  # a web admin page token: the login it serves is what matters, not each page
    if created:
        actor = _user_actor(instance.issued_by, instance.label or "platform")
        data = {"jti": instance.jti, "label": instance.label, "permissions": instance.permissions,
                "expiresAt": instance.expires_at.isoformat()}
        record(actor, "token.mint", target, data, AuditEntry.OK)
        return
    update_fields = kwargs.get("update_fields")
    if instance.revoked_at is None or (update_fields is not None and "revoked_at" not in update_fields):
        return
    if AuditEntry.objects.filter(action="token.revoke", data__jti=instance.jti).exists():
        return
    actor = _user_actor(instance.revoked_by, "platform")
    record(actor, "token.revoke", target, {"jti": instance.jti}, AuditEntry.OK)
