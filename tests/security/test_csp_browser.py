"""The admin's pages under the CSP in a real browser: no violation, no script error."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import unavailable

pytestmark = [pytest.mark.live, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser():
    if CHROMIUM is None:
        unavailable("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def test_admin_pages_pass_the_content_security_policy(platform, browser):
    platform.shell(
        "from tests.helpers import make_user; make_user('root', superuser=True)"
    )
    proc = platform.start("daphne")
    page = browser.new_page()
    problems: list[str] = []

    def console(message) -> None:  # noqa: ANN001
        url = message.location.get("url") or ""
        # The browser's own favicon request is not the page's (the platform has none yet).
        if message.type in ("error", "warning") and not url.endswith("/favicon.ico"):
            problems.append(f"{message.text} {url}")

    page.on("console", console)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))

    page.goto(f"{proc.http}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "pw-root")
    page.click("input[type=submit]")
    page.wait_for_url(f"{proc.http}/admin/")

    for path in [
        "/admin/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        "/admin/auth/group/add/",  # the permissions' filter widget is built by script
        "/admin/auth/user/1/change/",
        "/admin/password_change/",
    ]:
        response = page.goto(f"{proc.http}{path}")
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")
    # Scripts ran (the group form's permission chooser is made by SelectFilter2.js) ...
    page.goto(f"{proc.http}/admin/auth/group/add/")
    page.wait_for_selector("#id_permissions_from")
    # ... and the changelist's "select all" works (actions.js).
    page.goto(f"{proc.http}/admin/auth/user/")
    page.check("#action-toggle")
    assert page.is_checked("input.action-select")
    assert problems == []
