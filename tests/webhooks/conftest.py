from __future__ import annotations

import pytest

from tests.game.conftest import admin, fast_passwords, game, people  # noqa: F401 (fixtures)
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def loopback_allowed(settings):
    """The tests' receivers listen on loopback, which the SSRF guard refuses by default."""
    settings.WS_WEBHOOK_ALLOW_PRIVATE = ["127.0.0.0/8"]
    settings.WS_WEBHOOK_RETRY_BASE = 0.01
    settings.WS_WEBHOOK_RETRY_MAX = 0.05
