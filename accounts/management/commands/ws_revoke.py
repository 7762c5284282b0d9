"""Revoke issued tokens by id, or all of a user's; their open sockets close (4003)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import IssuedToken
from accounts.tokens import revoke_tokens


class Command(BaseCommand):
    help = "Revoke issued tokens (JTI...) or every token of --user; open sockets using them close."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("jtis", nargs="*", metavar="JTI", help="token ids (see Django admin)")
        parser.add_argument("--user", help="revoke every token issued to this username")

    def handle(self, *args, **options) -> None:
        if bool(options["jtis"]) == bool(options["user"]):
            raise CommandError("give token ids or --user USERNAME")
        if options["user"]:
            tokens = IssuedToken.objects.filter(user__username=options["user"])
        else:
            tokens = IssuedToken.objects.filter(jti__in=options["jtis"])
            missing = set(options["jtis"]) - set(tokens.values_list("jti", flat=True))
            if missing:
                raise CommandError(f"no issued token with id {', '.join(sorted(missing))}")
        self.stdout.write(f"revoked {revoke_tokens(tokens, reason='ws_revoke')} token(s)")
