"""Delete registry rows of tokens that expired long enough ago (they never authenticate again)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.tokens import purge_expired_tokens
from realtime.tokens import parse_duration


class Command(BaseCommand):
    help = "Delete issued-token rows expired more than --older-than ago (default 7d)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--older-than", default="7d", help="e.g. 7d, 12h, 1s (default 7d)")

    def handle(self, *args, **options) -> None:
        try:
            older_than = parse_duration(options["older_than"])
        except ValueError as exc:
            raise CommandError(f"--older-than: {exc}") from None
        self.stdout.write(f"purged {purge_expired_tokens(older_than)} expired token(s)")
