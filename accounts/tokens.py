"""The registry of tokens the platform minted (never the token text), and revocation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone as django_timezone

from accounts.models import IssuedToken
from accounts.signals import announce_tokens_revoked


def _when(epoch: int | float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def register_issued_token(
    token: Any, *, label: str = "", issued_by: Any = None, session_hash: str = ""
) -> IssuedToken:
    """Record a freshly minted token's claims (jti, subject, permissions, times); a web
    admin page token also its login session's hash."""
    user = get_user_model().objects.get(username=token["sub"])
    return IssuedToken.objects.create(
        jti=token["jti"],
        user=user,
        label=label[:100],
        permissions=list(token["permissions"]),
        issued_at=_when(token["iat"]),
        expires_at=_when(token["exp"]),
        issued_by=issued_by if getattr(issued_by, "pk", None) else None,
        session_hash=session_hash,
    )


def purge_expired_tokens(older_than: timedelta) -> int:
    """Delete registry rows of tokens expired more than ``older_than`` ago (they can never
    authenticate again); how many were deleted."""
    cutoff = django_timezone.now() - older_than
    deleted, _ = IssuedToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


def revoke_tokens(tokens: QuerySet[IssuedToken], *, by: Any = None) -> int:
    """Revoke those of ``tokens`` not yet revoked; their open sockets close on commit."""
    with transaction.atomic():
        jtis = list(tokens.filter(revoked_at__isnull=True).values_list("jti", flat=True))
        if not jtis:
            return 0
        count = IssuedToken.objects.filter(jti__in=jtis, revoked_at__isnull=True).update(
            revoked_at=django_timezone.now(), revoked_by=by if getattr(by, "pk", None) else None
        )
        announce_tokens_revoked(jtis)
    return count
