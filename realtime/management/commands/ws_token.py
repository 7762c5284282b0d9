from django.core.management.base import BaseCommand, CommandError

from realtime.api import TokenRequestError, generate_token


class Command(BaseCommand):
    help = "Mint a socket token for SUBJECT (a platform user) and print only the token."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("subject", help="username the token speaks for")
        parser.add_argument(
            "--permissions", default="", help="comma-separated, e.g. players.view,stats.view"
        )
        parser.add_argument("--expires", default="24h", help="30s, 15m, 24h, 7d or seconds")
        parser.add_argument("--label", default="cli", help="label in the token registry")

    def handle(self, *args, **options) -> None:
        permissions = [p.strip() for p in options["permissions"].split(",") if p.strip()]
        try:
            token = generate_token(
                options["subject"], permissions, options["expires"], label=options["label"]
            )
        except TokenRequestError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(token)
