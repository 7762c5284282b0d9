"""Django admin for staff, their socket grants and roles, and the issued-token registry.

Grants are ordinary permissions (``accounts.<name>``): given to users and to groups (roles,
e.g. "Moderator") with Django admin's own user and group pages. The socket permissions
are labelled ``socket: players.view (View player list)`` there, so they stand out from
Django's model permissions.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts import permissions as perms
from accounts.models import IssuedToken
from accounts.services import load_principal
from accounts.tokens import revoke_tokens

User = get_user_model()


def permission_label(permission: Permission) -> str:
    """How a permission reads in admin: socket grants by their protocol name first."""
    if permission.content_type.app_label == "accounts" and permission.codename in perms.CATALOGUE:
        return f"socket: {permission.codename} ({permission.name})"
    return str(permission)


class SocketPermissionLabels:
    """Label the permission pickers of a user or group admin with permission_label."""

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any):  # noqa: ANN201
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.related_model is Permission:
            field.label_from_instance = permission_label
        return field


class StaffUserAdmin(SocketPermissionLabels, UserAdmin):
    """Django's user admin, plus what the user may do on the socket."""

    readonly_fields = (*UserAdmin.readonly_fields, "socket_access")
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Socket access", {"fields": ("socket_access",)}),
    )

    @admin.display(description="Effective socket permissions")
    def socket_access(self, user: Any) -> str:
        principal = load_principal(user.username) if user.pk else None
        if principal is None:
            return "none (inactive user)" if user.pk and not user.is_active else "none"
        return ", ".join(perms.ordered(principal.grants)) or "none"


class SocketGroupAdmin(SocketPermissionLabels, GroupAdmin):
    """Django's group admin: a group is a role, e.g. "Moderator"."""


class TokenState(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(IssuedToken)
class IssuedTokenAdmin(admin.ModelAdmin):
    """The registry: listed, searched and revoked; tokens are minted from a user's page."""

    list_display = (
        "__str__",
        "user",
        "granted",
        "issued_at",
        "expires_at",
        "last_used_at",
        "state",
        "revoked_by",
    )
    list_filter = (TokenState, "issued_at")
    list_select_related = ("user", "revoked_by")
    search_fields = ("user__username", "label", "jti")
    readonly_fields = (
        "jti",
        "user",
        "label",
        "permissions",
        "issued_at",
        "expires_at",
        "issued_by",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    fields = readonly_fields
    actions = ["revoke"]

    @admin.display(description="permissions")
    def granted(self, token: IssuedToken) -> str:
        return ", ".join(token.permissions) or "-"

    @admin.display(description="state")
    def state(self, token: IssuedToken) -> str:
        if token.revoked_at is not None:
            return f"revoked {timezone.localtime(token.revoked_at):%Y-%m-%d %H:%M}"
        return "expired" if token.expires_at <= timezone.now() else "active"

    @admin.action(description="Revoke selected tokens (their open sockets close)", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = revoke_tokens(queryset, by=request.user, reason="Django admin")
        self.message_user(request, f"Revoked {count} token(s).")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # minted on a user's page ("Mint token"), never typed in

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the revoke action; an entry itself is never edited (its page is read-only).
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting the entry would turn a revoked token into an unregistered one, which is
        # accepted again unless WS_REQUIRE_REGISTERED_TOKENS: revoke instead.
        return False


for model, model_admin in ((User, StaffUserAdmin), (Group, SocketGroupAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
