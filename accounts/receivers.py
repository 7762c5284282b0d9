"""Model signals that change what someone may do on the socket, turned into announcements.

Covered: a user's ``user_permissions`` and ``groups`` (changed from either side), a group's
``permissions`` (from either side), a user's ``username``/``is_active``/``is_superuser``
on save (and ``is_staff``), users created or deleted, groups deleted. ``QuerySet.update()`` and raw SQL send
no model signals: change users through the ORM's instances or the admin.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save, pre_delete

from accounts.signals import announce_access_changed

RIGHTS_FIELDS = ("username", "is_active", "is_superuser", "is_staff")
_AFTER = {"post_add", "post_remove", "post_clear"}


def _rights(user: Any) -> tuple:
    # From __dict__: reading a deferred field would cost a query per loaded user.
    return tuple(user.__dict__.get(name) for name in RIGHTS_FIELDS)


def _announce_users(user_ids: Iterable[int]) -> None:
    rows = list(get_user_model().objects.filter(pk__in=list(user_ids)).values_list("pk", "username"))
    if rows:
        announce_access_changed([pk for pk, _ in rows], [name for _, name in rows])


def _announce_members(group_ids: Iterable[int]) -> None:
    _announce_users(
        get_user_model().objects.filter(groups__in=list(group_ids)).values_list("pk", flat=True)
    )


def user_loaded(sender: Any, instance: Any, **kwargs: Any) -> None:
    instance._accounts_rights = _rights(instance)
    instance._accounts_password = instance.__dict__.get("password")


def _password_changed(instance: Any, update_fields: Any) -> bool:
    before = getattr(instance, "_accounts_password", None)
    if before is None or before == instance.__dict__.get("password"):
        return False
    # check_password() re-hashing the same password (a hasher upgrade) saves only the
    # password, with no raw password pending: not a change.
    rehash = update_fields is not None and set(update_fields) == {"password"}
    return not (rehash and getattr(instance, "_password", None) is None)


def user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_accounts_rights", None)
    after = instance._accounts_rights = _rights(instance)
    changed = _password_changed(instance, kwargs.get("update_fields"))
    instance._accounts_password = instance.__dict__.get("password")
    deactivated = before is not None and before[1] and not after[1]
    if not created and (changed or deactivated):
        invalidate_tokens(instance, "password changed" if changed else "deactivated")
    if created or before != after or changed:
        announce_access_changed([instance.pk], [before[0] if before else None, instance.username])


def invalidate_tokens(user: Any, reason: str) -> None:
    """Every token of ``user`` issued until now stops working, in every process: the
    registered ones are revoked (audited, sockets close), the unregistered ones are refused
    by their ``iat`` (TokenFloor)."""
    from django.utils import timezone

    from accounts.models import IssuedToken, TokenFloor
    from accounts.tokens import revoke_tokens

    TokenFloor.objects.update_or_create(user_id=user.pk, defaults={"not_before": timezone.now()})
    revoke_tokens(IssuedToken.objects.filter(user_id=user.pk), reason=reason)


def user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    announce_access_changed([instance.pk], [instance.username])


def user_relation_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set | None, **kwargs: Any
) -> None:
    """A user's user_permissions or groups changed; ``reverse``: from the permission/group."""
    if not reverse:
        if action in _AFTER:
            announce_access_changed([instance.pk], [instance.username])
        return
    if action == "pre_clear":  # afterwards nobody remembers who was in it
        instance._accounts_cleared = list(instance.user_set.values_list("pk", flat=True))
    elif action == "post_clear":
        _announce_users(instance.__dict__.pop("_accounts_cleared", []))
    elif action in _AFTER:
        _announce_users(pk_set or ())


def group_permissions_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set | None, **kwargs: Any
) -> None:
    """A group's permissions changed; ``reverse``: from the permission's side."""
    if not reverse:
        if action in _AFTER:
            _announce_members([instance.pk])
        return
    if action == "pre_clear":
        instance._accounts_cleared = list(instance.group_set.values_list("pk", flat=True))
    elif action == "post_clear":
        _announce_members(instance.__dict__.pop("_accounts_cleared", []))
    elif action in _AFTER:
        _announce_members(pk_set or ())


def group_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    # The membership rows go with the group, without m2m signals: note who loses it now.
    instance._accounts_members = list(instance.user_set.values_list("pk", flat=True))


def group_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _announce_users(instance.__dict__.pop("_accounts_members", []))


def connect() -> None:
    """Connect the receivers (from AccountsConfig.ready)."""
    User = get_user_model()
    uid = "accounts.receivers."
    post_init.connect(user_loaded, sender=User, dispatch_uid=uid + "user_loaded")
    post_save.connect(user_saved, sender=User, dispatch_uid=uid + "user_saved")
    post_delete.connect(user_deleted, sender=User, dispatch_uid=uid + "user_deleted")
    for through in (User.user_permissions.through, User.groups.through):
        m2m_changed.connect(user_relation_changed, sender=through, dispatch_uid=uid + through.__name__)
    m2m_changed.connect(
        group_permissions_changed, sender=Group.permissions.through, dispatch_uid=uid + "group_perms"
    )
    pre_delete.connect(group_deleting, sender=Group, dispatch_uid=uid + "group_deleting")
    post_delete.connect(group_deleted, sender=Group, dispatch_uid=uid + "group_deleted")
