"""What a platform user may do on the socket."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from accounts.permissions import ADMIN, CATALOGUE, expand


@dataclass(frozen=True)
class Principal:
    """An active user as the socket sees them: who, and the permissions granted to them."""

    user_id: int
    username: str
    grants: frozenset[str]


def load_principal(username: str) -> Principal | None:
    """The active user named ``username`` with their expanded grants, in one query."""
    if not isinstance(username, str) or not username:
        return None
    rows = list(
        get_user_model()
        .objects.filter(username=username, is_active=True)
        .values_list(
            "id",
            "is_superuser",
            "user_permissions__content_type__app_label",
            "user_permissions__codename",
            "groups__permissions__content_type__app_label",
            "groups__permissions__codename",
        )
    )
    if not rows:
        return None
    user_id, is_superuser = rows[0][0], rows[0][1]
    names: set[str] = {ADMIN} if is_superuser else set()
    for _, _, app1, code1, app2, code2 in rows:
        if app1 == "accounts" and code1 in CATALOGUE:
            names.add(code1)
        if app2 == "accounts" and code2 in CATALOGUE:
            names.add(code2)
    return Principal(user_id=user_id, username=username, grants=expand(names))


def authenticate(payload: dict) -> Principal | None:
    """The principal a verified token payload speaks for, or None when it must be refused.

    Refused: an unknown or inactive subject, a revoked token, and, with
    WS_REQUIRE_REGISTERED_TOKENS, a token the platform did not mint.
    """
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import IssuedToken

    principal = load_principal(payload.get("sub"))
    if principal is None:
        return None
    jti = payload.get("jti")
    issued = (
        IssuedToken.objects.filter(jti=jti).values("id", "user_id", "revoked_at").first()
        if jti
        else None
    )
    if issued is None:
        if getattr(settings, "WS_REQUIRE_REGISTERED_TOKENS", False):
            return None
        return principal
    if issued["revoked_at"] is not None or issued["user_id"] != principal.user_id:
        return None
    IssuedToken.objects.filter(id=issued["id"]).update(last_used_at=timezone.now())
    return principal
