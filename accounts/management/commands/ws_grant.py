"""Set (or list) the socket permissions granted directly to a platform user."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import permissions as perms
from accounts.services import load_principal


class Command(BaseCommand):
    help = (
        "Set USERNAME's socket grants to exactly PERM... (grants through groups stay); "
        "--create makes a service account without a password if missing; --list shows them."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("username")
        parser.add_argument("permissions", nargs="*", metavar="PERM", help=", ".join(perms.CATALOGUE))
        parser.add_argument("--create", action="store_true", help="create the user (no usable password) if missing")
        parser.add_argument("--clear", action="store_true", help="remove every direct grant")
        parser.add_argument("--list", action="store_true", help="show the user's grants")

    def handle(self, *args, **options) -> None:
        wanted: list[str] = list(dict.fromkeys(options["permissions"]))
        if wanted and options["clear"]:
            raise CommandError("give permissions or --clear, not both")
        if not (wanted or options["clear"] or options["list"]):
            raise CommandError("give the permissions to grant, --clear or --list")
        bad = perms.unknown(wanted)
        if bad:
            raise CommandError(
                f"unknown permission(s) {', '.join(bad)}; known: {', '.join(perms.CATALOGUE)}"
            )
        user = self._user(options["username"], create=options["create"])
        if wanted or options["clear"]:
            self._set(user, wanted)
        self._show(user)

    def _user(self, username: str, *, create: bool):  # noqa: ANN202
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None:
            return user
        if not create:
            raise CommandError(f"no user named {username!r} (--create makes a service account)")
        user = User.objects.create_user(username)  # no password: unusable, cannot log in
        self.stderr.write(f"created service account {username!r} (no password)")
        return user

    def _set(self, user, wanted: list[str]) -> None:  # noqa: ANN001
        catalogue = Permission.objects.filter(
            content_type__app_label="accounts", codename__in=list(perms.CATALOGUE)
        )
        with transaction.atomic():  # one announcement to open sockets, on commit
            user.user_permissions.remove(*catalogue.exclude(codename__in=wanted))
            user.user_permissions.add(*catalogue.filter(codename__in=wanted))
        if not user.is_active:
            self.stderr.write(f"warning: {user.username!r} is inactive; their tokens are refused")

    def _show(self, user) -> None:  # noqa: ANN001
        direct = user.user_permissions.filter(content_type__app_label="accounts").values_list(
            "codename", flat=True
        )
        self.stdout.write(f"user: {user.username}{'' if user.is_active else ' (inactive)'}")
        self.stdout.write(f"direct: {' '.join(perms.ordered(direct)) or '-'}")
        for group in user.groups.order_by("name"):
            held = group.permissions.filter(content_type__app_label="accounts").values_list(
                "codename", flat=True
            )
            self.stdout.write(f"group {group.name}: {' '.join(perms.ordered(held)) or '-'}")
        if user.is_superuser:
            self.stdout.write("superuser: admin")
        principal = load_principal(user.username)
        effective = perms.ordered(principal.grants) if principal else []
        self.stdout.write(f"effective: {' '.join(effective) or '-'}")
