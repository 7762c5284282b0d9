"""The registry of tokens the platform minted (never the token text), and revocation."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone as django_timezone

from accounts.models import IssuedToken
from accounts.signals import announce_tokens_revoked, tokens_revoking

log = logging.getLogger(__name__)


def _when(epoch: int | float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def register_issued_token(
    token: Any, *, label: str = "", issued_by: Any = None, session_hash: str = ""
) -> IssuedToken:
    """Record a freshly minted token's claims (jti, subject, permissions, times, issuer); a
    web admin page token also its login session's hash."""
    users = get_user_model().objects
    user = users.get(username=token["sub"])
    # A user, or a user's id (the bridge's socket knows only its user's id).
    issuer_id = issued_by if isinstance(issued_by, int) else getattr(issued_by, "pk", None)
    issuer_name = ""
    if issuer_id is not None:
        issuer_name = user.username if issuer_id == user.pk else (
            users.filter(pk=issuer_id).values_list("username", flat=True).first() or ""
        )
    return IssuedToken.objects.create(
        jti=token["jti"],
        user=user,
        label=label[:100],
        permissions=list(token["permissions"]),
        issued_at=_when(token["iat"]),
        expires_at=_when(token["exp"]),
        issued_by_id=issuer_id,
        issuer_name=issuer_name,
        session_hash=session_hash,
    )


def purge_expired_tokens(older_than: timedelta) -> int:
    """Delete registry rows of tokens expired more than ``older_than`` ago (they can never
    authenticate again); how many were deleted."""
    cutoff = django_timezone.now() - older_than
    deleted, _ = IssuedToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


def revoke_tokens(tokens: QuerySet[IssuedToken], *, by: Any = None, reason: str = "") -> int:
    """Revoke those of ``tokens`` not yet revoked; their open sockets close on commit.

    ``by``: who revokes (a user, or None for the platform itself); ``reason``: why (e.g.
    "ws_revoke", "password changed"). Every call that revokes something sends
    ``tokens_revoking`` in the same transaction: the audit trail's one entry for it.
    """
    by = by if getattr(by, "pk", None) else None
    with transaction.atomic():
        rows = list(tokens.filter(revoked_at__isnull=True).values_list("jti", "user__username"))
        if not rows:
            return 0
        jtis = [jti for jti, _ in rows]
        count = IssuedToken.objects.filter(jti__in=jtis, revoked_at__isnull=True).update(
            revoked_at=django_timezone.now(), revoked_by=by
        )
        for receiver, result in tokens_revoking.send_robust(
            sender=IssuedToken, jtis=jtis, users=sorted({u for _, u in rows}), by=by, reason=reason
        ):
            if isinstance(result, Exception):
                log.error("accounts: %r failed to record a revocation", receiver, exc_info=result)
        announce_tokens_revoked(jtis)
    return count
