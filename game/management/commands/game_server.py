"""``manage.py game_server``: add, list, token, remove and default game servers."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from game import servers


class Command(BaseCommand):
    help = (
        "Manage the platform's game servers: 'add SLUG --name NAME' (creates the server and "
        "its bridge account, prints a bridge token as its last line), 'list', 'token SLUG' "
        "(a new bridge token), 'remove SLUG' (its tokens are refused from then on), "
        "'default SLUG' (where requests without data.server go)."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="a new game server and its bridge account")
        add.add_argument("slug")
        add.add_argument("--name", default="", help="display name")
        add.add_argument("--max-players", type=int, default=0)
        add.add_argument("--expires", default=servers.BRIDGE_TOKEN_LIFETIME, help="token lifetime (default 365d)")
        sub.add_parser("list", help="every game server")
        token = sub.add_parser("token", help="a new bridge token for a server")
        token.add_argument("slug")
        token.add_argument("--expires", default=servers.BRIDGE_TOKEN_LIFETIME, help="token lifetime (default 365d)")
        remove = sub.add_parser("remove", help="delete a server; its bridge tokens are refused")
        remove.add_argument("slug")
        default = sub.add_parser("default", help="make a server the default")
        default.add_argument("slug")

    def handle(self, *args, **options) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except servers.ServerError as error:
            raise CommandError(str(error)) from None
        except ValueError as error:  # a token that cannot be minted (lifetime...)
            raise CommandError(str(error)) from None

    def _add(self, options: dict) -> None:
        server = servers.add(options["slug"], options["name"], options["max_players"])
        self.stdout.write(f"added game server {server.slug!r} ({server.display_name})"
                          f"{', the default' if server.is_default else ''}; bridge account "
                          f"{server.account.get_username()!r}")
        self.stdout.write("bridge token (give it to this server's bridge only):")
        self.stdout.write(servers.token(server.slug, options["expires"]))

    def _list(self, options: dict) -> None:
        rows = servers.listing()
        if not rows:
            self.stdout.write("no game servers (the first bridge to connect creates 'main')")
        for row in rows:
            state = f"bridge {row['bridge']} since {row['connected_at']:%Y-%m-%d %H:%M:%S}" if row["bridge"] else "no bridge"
            self.stdout.write(f"{row['slug']:<20} {row['name']:<30} {'default' if row['default'] else '':<8}"
                              f"{row['account'] or '(no account)':<28} {state}")

    def _token(self, options: dict) -> None:
        self.stdout.write(servers.token(options["slug"], options["expires"]))

    def _remove(self, options: dict) -> None:
        servers.remove(options["slug"])
        self.stdout.write(f"removed game server {options['slug']!r}; its bridge account is deactivated")

    def _default(self, options: dict) -> None:
        server = servers.make_default(options["slug"])
        self.stdout.write(f"{server.slug!r} is the default game server")
