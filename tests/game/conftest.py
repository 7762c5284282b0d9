from __future__ import annotations

import pytest

from tests.game.support import ADMIN_PERMS, bridge_client, game_client, simulated
from tests.helpers import make_user, spec_token


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """These tests never log in with a password: skip the deliberately slow hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(db):
    """The users of the game tests: the bridge's service account, an admin, a read-only viewer."""
    make_user("gameserver", ["gameserver"])
    make_user("boss", superuser=True)
    make_user("viewer", ["players.view", "stats.view", "jobs.view", "bans.view"])


@pytest.fixture
async def admin(people):
    client = await game_client(spec_token("boss", ADMIN_PERMS))
    yield client
    await client.close()


@pytest.fixture
async def viewer(people):
    client = await game_client(spec_token("viewer", ["players.view", "stats.view", "jobs.view", "bans.view"]))
    yield client
    await client.close()


@pytest.fixture
async def game(people):
    """A simulated game server (3 people, 2 online with characters), connected in-process."""
    server = await simulated()
    yield server
    await server.stop()


@pytest.fixture
async def bridge(people):
    """A hand-driven bridge socket (the test answers its commands)."""
    client = await bridge_client()
    yield client
    await client.close()
