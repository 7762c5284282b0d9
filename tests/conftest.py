from __future__ import annotations

import os

import pytest

from tests import logwatch
from tests.live import Platform, reachable


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(tmp_path_factory):
    """Fails the run (at its end) if any log line of it held a secret or a token."""
    collector = logwatch.Collector()
    collector.install()
    yield collector
    collector.uninstall()
    lines = collector.lines + logwatch.server_log_lines(tmp_path_factory.getbasetemp())
    found = logwatch.leaks(lines, logwatch.secrets_in_play())
    assert not found, "secrets in the logs:\n" + "\n".join(found)


@pytest.fixture
def platform(tmp_path):
    """A migrated platform database with helpers to start real server processes."""
    p = Platform(tmp_path)
    p.migrate()
    yield p
    p.stop_all()


def redis_url() -> str | None:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return url if reachable(parsed.hostname or "127.0.0.1", parsed.port or 6379) else None


@pytest.fixture
def redis_env():
    """REDIS_URL for server processes, or a skip saying Redis is not reachable."""
    url = redis_url()
    if url is None:
        pytest.skip("Redis is not reachable at TEST_REDIS_URL / 127.0.0.1:6379")
    import redis

    redis.Redis.from_url(url).flushdb()
    return {"REDIS_URL": url}
