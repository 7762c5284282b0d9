"""The API's reference page in a real browser, under the platform's CSP: it renders every
operation from /api/v1/schema and sends a request with the token typed into it."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import unavailable
from tests.live import token

pytestmark = [pytest.mark.live, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_reference_page_works_under_the_csp(platform):
    if CHROMIUM is None:
        unavailable("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    platform.shell("from tests.helpers import make_user; make_user('viewer', ['stats.view'])")
    proc = platform.start("uvicorn")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
        response = page.goto(f"{proc.http}/api/v1/docs")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector("details#getStats")
        assert page.locator("details.op").count() >= 18
        page.fill("#token", token(platform, "viewer", ["stats.view"]))
        page.click("details#getStats > summary")
        page.click("details#getStats button")
        page.locator("details#getStats pre", has_text='"event": "stats"').wait_for(timeout=15000)
        assert page.text_content("details#getStats pre").startswith("200")
        assert '"event": "stats"' in page.text_content("details#getStats pre")
        browser.close()
    assert problems == []
