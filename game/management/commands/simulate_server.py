"""``manage.py simulate_server``: a stand-in FiveM server connected through the bridge."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from game.simulator import AuthRefused, Simulator, WebsocketsTransport, World

SERVICE_ACCOUNT = "gameserver"


def mint_service_token(account: str) -> str:
    """A 24 h token for ``account``, created as a passwordless service account holding only
    the ``gameserver`` grant if missing (needs the platform's database)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from realtime.api import generate_token

    user, created = get_user_model().objects.get_or_create(username=account)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="gameserver"))
    return generate_token(account, ["gameserver"], "24h", label="simulate_server")


class TokenSource:
    """The bridge's token: the one given, or one minted once (again when it is expiring)."""

    def __init__(self, token: str, account: str) -> None:
        self.token, self.account = token, account

    async def get(self) -> str:
        """The token to authenticate with (minted on first use when none was given)."""
        if not self.token:
            await self.renew()
        return self.token

    async def renew(self) -> str:
        """Mint a fresh token for the service account."""
        self.token = await sync_to_async(mint_service_token, thread_sensitive=True)(self.account)
        return self.token


class Command(BaseCommand):
    help = (
        "Run a simulated FiveM server: N players with identifiers and characters join "
        "(after checkBan), select characters, earn money and leave; it obeys kicks, bans, "
        "announcements and job updates, and prints what it does."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--players", type=int, default=8, help="people who play here (default 8)")
        parser.add_argument("--online", type=int, default=None,
                            help="of them, online at start (default: half)")
        parser.add_argument("--url", default=f"ws://127.0.0.1:{settings.WS_PORT}",
                            help="the platform's socket (default ws://127.0.0.1:WS_PORT)")
        parser.add_argument("--token", default=os.environ.get("WS_BRIDGE_TOKEN", ""),
                            help="a token of a user holding the gameserver grant (or WS_BRIDGE_TOKEN); "
                                 "default: mint one for --account in this platform's database")
        parser.add_argument("--account", default=SERVICE_ACCOUNT,
                            help="service account to create and mint for when no token is given")
        parser.add_argument("--pace", type=float, default=2.0,
                            help="seconds between actions; 0 keeps the world still (default 2)")
        parser.add_argument("--seed", type=int, default=1, help="same seed, same world and actions")
        parser.add_argument("--max-players", type=int, default=None, help="default max(64, players)")
        parser.add_argument("--server-name", default="Simulated FiveM server")
        parser.add_argument("--for", dest="duration", type=float, default=0,
                            help="stop after this many seconds (default: run until interrupted)")

    def handle(self, *args, **options) -> None:
        players = options["players"]
        if not 0 <= players <= 4096:
            raise CommandError("--players must be between 0 and 4096")
        online = players // 2 if options["online"] is None else options["online"]
        if not 0 <= online <= players:
            raise CommandError("--online must be between 0 and --players")
        world = World(players, online=online, seed=options["seed"], max_players=options["max_players"],
                      server_name=options["server_name"])
        simulator = Simulator(world, log=self.say, pace=options["pace"])
        tokens = TokenSource(options["token"], options["account"])
        if not options["token"]:
            self.say(f"minting a token for service account {options['account']!r} (gameserver grant)")
            simulator.renew_token = tokens.renew
        url = options["url"]
        self.say(f"simulating {players} players ({online} online) against {url}, pace {options['pace']}s, "
                 f"seed {options['seed']}")
        try:
            asyncio.run(self._main(simulator, url, tokens.get, options["duration"]))
        except AuthRefused as error:
            raise CommandError(f"the platform refused the bridge token: {error}") from None

    async def _main(self, simulator: Simulator, url: str, get_token, duration: float) -> None:  # noqa: ANN001
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        if duration:
            loop.call_later(duration, stop.set)
        await simulator.run(lambda: WebsocketsTransport.open(url), get_token, url=url, stop=stop)
        self.say("stopped")

    def say(self, line: str) -> None:
        """Print one line now (tests and users read it as it happens)."""
        self.stdout.write(line)
        sys.stdout.flush()
