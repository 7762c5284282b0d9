"""The web admin with several game servers (issue 14), in Chromium: the all-servers
dashboard, and the server switcher (remembered for the user) that every page follows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.webui.conftest import Simulator, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_all_servers_dashboard_and_the_switcher(browser_context, live, simulators):
    live.add_user("boss", superuser=True)
    tokens = {}
    for slug, name in (("main", "Main server"), ("dev", "Development")):
        tokens[slug] = live.platform.manage("game_server", "add", slug, "--name", name).stdout.strip().splitlines()[-1]
    for slug, online, seed in (("main", 2, "1"), ("dev", 3, "2")):
        simulators.append(Simulator(live.platform, live.server, "--token", tokens[slug], "--players", str(online + 1),
                                    "--online", str(online), "--pace", "0", "--seed", seed))

    dashboard = sign_in(browser_context, live, "boss")
    table = dashboard.locator("#all-servers")
    expect(dashboard.locator("#all-servers-card")).to_be_visible()
    expect(table.locator("tr[data-server=main]")).to_contain_text("2 / ")
    expect(table.locator("tr[data-server=dev]")).to_contain_text("3 / ")
    expect(table.locator("tr[data-server=dev]")).to_contain_text("Connected")
    expect(dashboard.locator("#stat-online")).to_have_text("2")  # the default server is shown
    expect(dashboard.locator("#server-switcher")).to_be_visible()
    screenshot(dashboard, "dashboard-all-servers")

    dashboard.select_option("#server-switch", "dev")
    dashboard.wait_for_selector("body[data-connection=open]")
    expect(dashboard.locator("#stat-online")).to_have_text("3")
    expect(dashboard.locator("#server-switch")).to_have_value("dev")

    players = browser_context.new_page()  # another page, same user: the choice is remembered
    players.goto(f"{live.server.http}/players/")
    expect(players.locator("#player-rows tr[data-source]")).to_have_count(3)
    expect(players.locator("#server-switch")).to_have_value("dev")

    players.select_option("#server-switch", "main")
    expect(players.locator("#player-rows tr[data-source]")).to_have_count(2)

    # The announce page offers every server when there are several; both game servers get it,
    # and the feed of a page showing one server shows the announcement to all.
    announce = browser_context.new_page()
    announce.goto(f"{live.server.http}/announce/")
    expect(announce.locator("#announce-everywhere")).to_be_visible()
    announce.fill("#announce-message", "Restart of every server at noon")
    announce.check("#announce-all")
    announce.get_by_role("button", name="Send announcement").click()
    expect(announce.locator(".msg-success")).to_contain_text("Announcement sent to 2 server(s)")
    for simulator in simulators:
        simulator.wait_for_output("Restart of every server at noon")
    expect(announce.locator("#announce-history li")).to_contain_text("Restart of every server at noon")
