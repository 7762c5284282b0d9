"""What the game app does when other apps announce something (connected in GameConfig.ready).

- realtime's ``client_disconnected``: the bridge's socket closing takes its players offline
  (game.server.on_client_disconnected).
- A token minted or revoked (accounts.IssuedToken saved): an audit entry. Tokens are
  minted through ``register_issued_token`` (admin page, ``ws_token``, ``generateToken``);
  a revocation through ``accounts.tokens.revoke_tokens`` (admin action, ``ws_revoke``,
  web admin, logout, password change, deactivation) is audited once per call from
  accounts' ``tokens_revoking`` signal, with who and why; one saved through the model
  (``token.save()``, Django admin's form) when it is saved.
"""

from __future__ import annotations

from typing import Any

from game.audit import Actor, record
from game.models import AuditEntry


def _user_actor(user: Any, fallback: str) -> Actor:
    if user is not None and getattr(user, "pk", None):
        return Actor(user.pk, user.get_username())
    return Actor(None, fallback)


def on_tokens_revoking(sender: type, jtis: list[str], users: list[str], by: Any, reason: str,
                       **kwargs: Any) -> None:
    """One audit entry per revoke_tokens() call (QuerySet.update() sends no model signal)."""
    from django.db import transaction

    actor = _user_actor(by, "platform")
    target = f"{len(jtis)} token(s) of {', '.join(users)}"
    with transaction.atomic():  # a failed write must not break the revoking transaction
        record(actor, "token.revoke", target, {"jtis": jtis, "reason": reason}, AuditEntry.OK)


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
