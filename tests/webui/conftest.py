"""Browser fixtures: Debian's Chromium driven by Playwright, against real server processes.

The servers send a Content Security Policy (the platform's own, or ``default-src 'self'``
added by tests/webui/csp_settings.py while it sends none), and any CSP violation, uncaught
page error or console error fails the test: what the browser refused a user would miss.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.live import ROOT, Platform, Server, start_simulator

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "webui"
# The servers' settings: the platform's, plus a CSP when the platform sends none itself.
SERVER_SETTINGS = "tests.webui.csp_settings"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def wait_until(condition: Callable[[], object], timeout: float = 15, what: str = "condition") -> object:
    """Poll ``condition`` until it returns something truthy (for state outside the browser)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium (Debian's package; never a downloaded browser build)."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright Python package is not installed (requirements-dev.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Problems(list):
    """What the browser complained about: CSP violations, page errors, console errors."""

    def watch(self, page, allow: list[str]) -> None:  # noqa: ANN001
        """Record ``page``'s problems, less console errors containing a text of ``allow``."""
        def on_console(message) -> None:  # noqa: ANN001
            if message.type == "error" and not any(a in message.text for a in allow):
                self.append(f"console: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.append(f"page error: {error}"))


@pytest.fixture
def browser_context(chromium, platform):
    """A fresh browser profile; the test fails on what the browser reports as problems.

    It depends on ``platform`` so that its pages close before the servers stop.
    """
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15000)
    problems = Problems()
    context.problems = problems
    context.allowed_errors = []
    context.on("page", lambda page: problems.watch(page, context.allowed_errors))
    yield context
    context.close()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


class Simulator:
    """``manage.py simulate_server`` as its own process against a platform server."""

    def __init__(self, platform: Platform, server: Server, *args: str) -> None:
        self.proc, self.output = start_simulator(platform, server.url, *args)

    def wait_for_output(self, text: str, timeout: float = 15) -> None:
        """Until the simulator printed a line containing ``text``."""
        self.output.wait_for(re.escape(text), timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def simulators() -> Iterator[list[Simulator]]:
    started: list[Simulator] = []
    yield started
    for sim in started:
        sim.stop()


class Live:
    """A migrated platform, one server process, and the users the tests sign in as."""

    def __init__(self, platform: Platform, server: str = "daphne", **env: str) -> None:
        self.platform = platform
        self.kind = server
        self.env = {"DJANGO_SETTINGS_MODULE": SERVER_SETTINGS, **env}
        self.server = platform.start(server, **self.env)

    def add_user(self, username: str, grants: list[str] = (), superuser: bool = False) -> None:
        """A user with password ``pw-<username>`` holding ``grants``."""
        self.platform.shell(
            "from tests.helpers import make_staff; "
            f"make_staff({username!r}, {list(grants)!r}, superuser={superuser!r})"
        )

    def restart(self) -> None:
        """Start the server again on the same port (after stop())."""
        self.server = self.platform.start(self.kind, port=self.server.port, **self.env)

    def query(self, sql: str, *params: object) -> list[tuple]:
        """Read the platform's (SQLite) database directly."""
        with sqlite3.connect(self.platform.workdir / "db.sqlite3") as db:
            return db.execute(sql, params).fetchall()


@pytest.fixture
def live(platform, request) -> Live:
    """The platform served by daphne, or by the server a test names (indirect parameter)."""
    return Live(platform, getattr(request, "param", "daphne"))


def sign_in(context, live: Live, username: str, path: str = "/"):  # noqa: ANN001, ANN201
    """A new page of ``context`` signed in as ``username``, showing ``path`` with a live socket."""
    page = context.new_page()
    response = page.goto(f"{live.server.http}{path}")
    assert "default-src 'self'" in (response.headers.get("content-security-policy") or "")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-connection=open]")
    return page


def screenshot(page, name: str) -> Path:  # noqa: ANN001
    """A full-page screenshot in test-artifacts/webui/ (git-ignored) for a reviewer."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
