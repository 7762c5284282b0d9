from __future__ import annotations

import pytest
from django.conf import settings


@pytest.fixture
def users(platform):
    """The live platform's users: viewer (stats.view) and bridge (the gameserver grant)."""
    # pytest-django loads settings before the root conftest sets a random secret, so the
    # test process may hold another one than os.environ: the servers get the test's own.
    platform.env["WS_JWT_SECRET"] = settings.WS_JWT_SECRET
    platform.shell(
        "from tests.helpers import make_user; "
        "make_user('viewer', ['stats.view', 'players.view']); make_user('bridge', ['gameserver'])"
    )
    return platform
