from __future__ import annotations

import os
import uuid
from urllib.parse import urlparse

import pytest

from tests import logwatch
from tests.live import Platform, reachable


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail where CI demands every service (CI_REQUIRE_SERVICES)."""
    if os.environ.get("CI_REQUIRE_SERVICES"):
        pytest.fail(f"CI requires this service: {reason}")
    pytest.skip(reason)


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


@pytest.fixture(autouse=True)
def _no_feed_poller(settings):
    """In-process hubs do not poll the access change feed (the test's own process makes
    every change, and the channel layer already carries it; the poller would touch the
    database from outside the test's transaction). Live server processes do poll it."""
    settings.WS_ACCESS_FEED_POLL = 0


@pytest.fixture(autouse=True)
def _no_webhook_sender(settings):
    """In-process ASGI apps start no webhook sender (it would touch the database outside the
    test's transaction); tests/webhooks drives a Sender itself. Live server processes run one."""
    settings.WS_WEBHOOK_SENDER = False


@pytest.fixture(autouse=True)
def _fresh_access_cache():
    """Each test starts with an empty Django cache: cached principals never leak between tests."""
    from django.core.cache import cache

    cache.clear()
    yield


def redis_url() -> str | None:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    parsed = urlparse(url)
    return url if reachable(parsed.hostname or "127.0.0.1", parsed.port or 6379) else None


@pytest.fixture
def redis_env():
    """REDIS_URL and a fresh key prefix for server processes, or a stated skip."""
    url = redis_url()
    if url is None:
        unavailable("Redis is not reachable at TEST_REDIS_URL (default redis://127.0.0.1:6379/0)")
    # A prefix of its own: other runs may share this Redis; nothing is flushed.
    return {"REDIS_URL": url, "WS_REDIS_PREFIX": f"test-{uuid.uuid4().hex[:12]}"}


def postgres_admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_env():
    """DATABASE_URL of a throwaway PostgreSQL database, dropped afterwards, or a stated skip."""
    admin = postgres_admin_url()
    parsed = urlparse(admin)
    if not reachable(parsed.hostname or "127.0.0.1", parsed.port or 5432):
        unavailable("PostgreSQL is not reachable at TEST_POSTGRES_URL (default 127.0.0.1:5432)")
    import psycopg

    name = f"fivem_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield {"DATABASE_URL": admin.rsplit("/", 1)[0] + "/" + name}
    with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_platform(tmp_path, postgres_env):
    """Like ``platform``, on a fresh PostgreSQL database."""
    p = Platform(tmp_path, postgres_env)
    p.migrate()
    yield p
    p.stop_all()
