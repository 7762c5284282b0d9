"""Show, rotate or revoke a game server bridge's signing keys (never the key itself)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import BridgeSigningKey
from realtime import bridgekeys
from realtime.events import announce_key_change


class Command(BaseCommand):
    help = ("List a bridge account's signing keys; --rotate makes a new one now, --revoke revokes them all "
            "and the tokens they signed (a connected bridge is given a fresh key).")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("username", help="the bridge account (holding the gameserver grant)")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--rotate", action="store_true", help="retire the current key and make a new one")
        action.add_argument("--revoke", action="store_true", help="revoke every key and the tokens they signed")

    def handle(self, *args, **options) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        if options["revoke"]:
            count = bridgekeys.revoke(user, reason="ws_bridge_key --revoke")
            self.stdout.write(f"revoked {count} key(s) of {user.username} and the tokens they signed")
        elif options["rotate"]:
            key = bridgekeys.rotate(user)
            self.stdout.write(f"new key {key.kid} for {user.username}")
        if options["revoke"] or options["rotate"]:
            # Connected bridges of this account get their new key at once (with Redis;
            # otherwise within WS_BRIDGE_KEY_CHECK).
            announce_key_change([user.pk])
        for key in BridgeSigningKey.objects.filter(user=user):
            state = "revoked" if key.revoked_at else "retired" if key.retired_at else "current"
            self.stdout.write(f"{key.kid}  {state:8}  created {key.created_at:%Y-%m-%d %H:%M:%S}")
