"""The registry of tokens the platform minted (never the token text)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from django.contrib.auth import get_user_model

from accounts.models import IssuedToken


def _when(epoch: int | float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def register_issued_token(token: Any, *, label: str = "", issued_by: Any = None) -> IssuedToken:
    """Record a freshly minted token's claims (jti, subject, permissions, times)."""
    user = get_user_model().objects.get(username=token["sub"])
    return IssuedToken.objects.create(
        jti=token["jti"],
        user=user,
        label=label[:100],
        permissions=list(token["permissions"]),
        issued_at=_when(token["iat"]),
        expires_at=_when(token["exp"]),
        issued_by=issued_by if getattr(issued_by, "pk", None) else None,
    )
