"""The web admin in a real browser, against a real server process and `simulate_server`.

Headless Chromium (Playwright) signs in with the login form, and everything the pages show
comes over the same socket external apps use. Screenshots go to test-artifacts/webui/;
with WEBUI_DOCS_SCREENSHOT=1 the dashboard's is also written to docs/ for the README.
"""

from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import expect

from tests.live import ROOT
from tests.webui.conftest import Live, Simulator, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.live]

ONLINE = 4  # players online when the simulator starts; --pace 0 keeps the world still


def simulate(live: Live, simulators: list, online: int = ONLINE) -> Simulator:
    sim = Simulator(
        live.platform, live.server, "--players", str(online + 2), "--online", str(online), "--pace", "0"
    )
    simulators.append(sim)
    return sim


def player_rows(page):  # noqa: ANN001, ANN201
    return page.locator("#player-rows tr[data-source]")


def test_staff_see_the_simulated_server_appear_live(browser_context, live, simulators):
    live.add_user("boss", superuser=True)
    dashboard = sign_in(browser_context, live, "boss")
    expect(dashboard.locator("#stat-game")).to_have_text("Offline")
    expect(dashboard.locator("#game-banner")).to_be_visible()
    players = browser_context.new_page()
    players.goto(f"{live.server.http}/players/")
    expect(players.locator("#player-rows")).to_contain_text("Nobody is online.")

    simulate(live, simulators)

    # Both pages update without a reload.
    expect(dashboard.locator("#stat-game")).to_have_text("Connected")
    expect(dashboard.locator("#stat-online")).to_have_text(str(ONLINE))
    expect(dashboard.locator("#game-banner")).to_be_hidden()
    expect(dashboard.locator("#feed")).to_contain_text("Game server connected")
    expect(player_rows(players)).to_have_count(ONLINE)
    expect(players.locator("#player-count")).to_have_text(f"{ONLINE} online")
    first = player_rows(players).first
    expect(first.locator("code").first).to_contain_text("license:")
    name = first.locator(".player-name").inner_text()
    assert name.strip()

    players.fill("#player-filter", name)
    expect(player_rows(players)).to_have_count(1)
    expect(players.locator("#player-count")).to_have_text(f"1 of {ONLINE} online")
    players.fill("#player-filter", "")
    expect(player_rows(players)).to_have_count(ONLINE)

    screenshot(players, "players")
    screenshot(dashboard, "dashboard-live")


@pytest.mark.parametrize("live", ["daphne", "uvicorn"], indirect=True)
def test_kick_removes_the_player_and_the_feed_records_it(browser_context, live, simulators):
    live.add_user("boss", superuser=True)
    sim = simulate(live, simulators)
    dashboard = sign_in(browser_context, live, "boss")
    expect(dashboard.locator("#stat-online")).to_have_text(str(ONLINE))
    players = browser_context.new_page()
    players.goto(f"{live.server.http}/players/")
    expect(player_rows(players)).to_have_count(ONLINE)

    row = player_rows(players).first
    source = row.get_attribute("data-source")
    name = row.locator(".player-name").inner_text()
    row.get_by_role("button", name="Kick").click()
    dialog = players.locator("#kick-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(name)
    dialog.get_by_role("button", name="Cancel").click()  # nothing happens without confirming
    expect(dialog).to_be_hidden()
    expect(player_rows(players)).to_have_count(ONLINE)

    row.get_by_role("button", name="Kick").click()
    dialog.locator("textarea[name=reason]").fill("AFK in the bank vault")
    dialog.get_by_test_id("confirm-kick").click()

    expect(players.locator(f'#player-rows tr[data-source="{source}"]')).to_have_count(0)
    expect(player_rows(players)).to_have_count(ONLINE - 1)
    expect(players.locator(".msg-success")).to_contain_text(f"Player {source} kicked")
    kicked = dashboard.locator("#feed li[data-event=playerKicked]")
    expect(kicked).to_contain_text("AFK in the bank vault")
    expect(kicked).to_contain_text(name)
    expect(dashboard.locator("#stat-online")).to_have_text(str(ONLINE - 1))
    sim.wait_for_output("AFK in the bank vault")

    # A failing command shows the server's message: the same player is gone now.
    players.evaluate(
        """async (source) => {
            const { client } = await import("/static/js/webui/app.js");
            await client.request("kickPlayer", { source: Number(source), reason: "again" })
              .catch((e) => document.body.dataset.lastError = e.code + ": " + e.message);
        }""",
        source,
    )
    expect(players.locator("body")).to_have_attribute("data-last-error", f"not_found: No online player with source {source}")

    # An announcement, previewed, sent, and in the feed.
    announce = browser_context.new_page()
    announce.goto(f"{live.server.http}/announce/")
    announce.wait_for_selector("body[data-connection=open]")
    announce.fill("#announce-message", "Server restart in 5 minutes!")
    announce.check("input[name=type][value=warning]")
    expect(announce.locator("#preview")).to_have_attribute("data-type", "warning")
    expect(announce.locator("#preview-text")).to_have_text("Server restart in 5 minutes!")
    announce.get_by_role("button", name="Send announcement").click()
    expect(announce.locator(".msg-success")).to_contain_text("Announcement sent")
    expect(dashboard.locator("#feed li[data-event=announcement]")).to_contain_text("Server restart in 5 minutes!")
    sim.wait_for_output("Server restart in 5 minutes!")
    announce.close()

    path = screenshot(dashboard, "dashboard")
    if os.environ.get("WEBUI_DOCS_SCREENSHOT"):
        shutil.copyfile(path, ROOT / "docs" / "screenshot-dashboard.png")


def test_a_viewer_gets_no_kick_or_ban_controls_and_the_server_refuses_anyway(browser_context, live, simulators):
    live.add_user("viewer", ["players.view"])
    simulate(live, simulators)
    page = sign_in(browser_context, live, "viewer", "/players/")
    expect(player_rows(page)).to_have_count(ONLINE)
    expect(page.locator("button[data-action=kick]")).to_have_count(0)
    expect(page.locator("button[data-action=ban]")).to_have_count(0)
    expect(page.locator(".nav")).not_to_contain_text("Bans")
    screenshot(page, "players-viewer")

    # The page runs under the policy: an inline script (what an injection would add) is refused.
    browser_context.allowed_errors.append("Executing inline script violates")
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.append(script);
    }""")
    assert page.evaluate("window.injected") is None

    # Speaking the protocol directly with the page's own token: refused.
    reply = page.evaluate(
        """async (source) => {
            const { client } = await import("/static/js/webui/app.js");
            try {
                await client.request("kickPlayer", { source, reason: "test" });
                return "kicked";
            } catch (error) {
                return error.code;
            }
        }""",
        int(player_rows(page).first.get_attribute("data-source")),
    )
    assert reply == "permission_denied"
    expect(player_rows(page)).to_have_count(ONLINE)


@pytest.mark.parametrize("live", ["daphne", "uvicorn"], indirect=True)
def test_the_banner_shows_while_the_platform_is_down_and_goes_when_it_returns(browser_context, live):
    live.add_user("boss", superuser=True)
    # While the server is down the browser logs its failed connection attempts.
    browser_context.allowed_errors += ["WebSocket connection", "ERR_CONNECTION_REFUSED", "Failed to load resource"]
    page = sign_in(browser_context, live, "boss")
    banner = page.locator("#connection-banner")
    expect(banner).to_be_hidden()
    client_id = page.locator("#conn-state").get_attribute("title")

    live.server.stop()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Connection to the platform lost")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "reconnecting")
    screenshot(page, "dashboard-connection-lost")

    live.restart()
    expect(banner).to_be_hidden(timeout=30000)
    expect(page.locator("body")).to_have_attribute("data-connection", "open")
    assert page.locator("#conn-state").get_attribute("title") != client_id  # a new socket
    # The page works again: statistics are read over the new socket.
    expect(page.locator("#stat-game")).to_have_text("Offline")


def test_the_page_renews_its_token_before_expiry_and_keeps_its_socket(browser_context, platform):
    # Tokens of 12 s, tokenExpiring 9 s before expiry: a renewal about every 3 s.
    live = Live(platform, WEBUI_TOKEN_LIFETIME="12s", WS_TOKEN_EXPIRY_WARNING="9")
    live.add_user("boss", superuser=True)
    page = sign_in(browser_context, live, "boss")
    socket = page.locator("#conn-state").get_attribute("title")
    first_expiry = live.query("SELECT MIN(expires_at) FROM accounts_issuedtoken WHERE label = 'web admin'")[0][0]

    def renewed_past_first_expiry() -> bool:
        (count, newest), = live.query(
            "SELECT COUNT(*), MAX(issued_at) FROM accounts_issuedtoken WHERE label = 'web admin'"
        )
        return count >= 3 and newest > first_expiry

    from tests.webui.conftest import wait_until

    wait_until(renewed_past_first_expiry, timeout=40, what="token renewals past the first token's expiry")
    expect(page.locator("body")).to_have_attribute("data-connection", "open")
    assert page.locator("#conn-state").get_attribute("title") == socket  # same clientId throughout
    expect(page.locator("#connection-banner")).to_be_hidden()


def test_ban_from_the_players_page_then_lift_it_on_the_bans_page(browser_context, live, simulators):
    live.add_user("boss", superuser=True)
    sim = simulate(live, simulators)
    players = sign_in(browser_context, live, "boss", "/players/")
    expect(player_rows(players)).to_have_count(ONLINE)
    row = player_rows(players).nth(1)
    source, name = row.get_attribute("data-source"), row.locator(".player-name").inner_text()
    row.get_by_role("button", name="Ban").click()
    dialog = players.locator("#ban-dialog")
    dialog.locator("textarea[name=reason]").fill("Aimbot")
    dialog.locator("input[name=duration]").fill("-5m")
    dialog.get_by_test_id("confirm-ban").click()
    # The server's validation message is shown; nothing happened.
    expect(players.locator(".msg-error")).to_contain_text("duration")
    expect(player_rows(players)).to_have_count(ONLINE)
    players.locator(".msg-error .msg-close").click()

    row.get_by_role("button", name="Ban").click()
    dialog.locator("textarea[name=reason]").fill("Aimbot")
    dialog.locator("input[name=duration]").fill("7d")
    dialog.get_by_test_id("confirm-ban").click()
    expect(players.locator(".msg-success")).to_contain_text(f"Player {source} banned")
    expect(players.locator(f'#player-rows tr[data-source="{source}"]')).to_have_count(0)
    sim.wait_for_output("Aimbot")

    bans = browser_context.new_page()
    bans.goto(f"{live.server.http}/bans/")
    ban_row = bans.locator("#ban-rows tr[data-ban]")
    expect(ban_row).to_have_count(1)
    expect(ban_row).to_contain_text(name)
    expect(ban_row).to_contain_text("Aimbot")
    expect(ban_row).to_contain_text("license:")
    bans.fill("#ban-search", "no such player")
    expect(bans.locator("#ban-rows")).to_contain_text("No ban matches the search.")
    bans.fill("#ban-search", "aimbot")
    expect(ban_row).to_have_count(1)
    screenshot(bans, "bans")

    ban_row.get_by_role("button", name="Unban").click()
    bans.get_by_test_id("confirm-unban").click()
    expect(bans.locator(".msg-success").last).to_contain_text("lifted")
    expect(bans.locator("#ban-rows")).to_contain_text("No ban matches the search.")
    bans.check("#ban-all")
    expect(ban_row).to_contain_text("lifted by boss")


def test_jobs_are_created_edited_and_deleted_by_managers_and_only_listed_for_viewers(
    browser_context, live, simulators
):
    live.add_user("boss", superuser=True)
    live.add_user("clerk", ["jobs.view"])
    simulate(live, simulators)
    jobs = sign_in(browser_context, live, "boss", "/jobs/")
    expect(jobs.locator("#job-count")).not_to_have_text("—")
    before = jobs.locator("#job-rows tr[data-job]").count()

    jobs.get_by_role("button", name="New job").click()
    dialog = jobs.locator("#job-dialog")
    dialog.locator("input[name=name]").fill("taxi")
    dialog.locator("input[name=label]").fill("Downtown Cab Co.")
    grade = dialog.locator("[data-grade]").first
    grade.get_by_label("Grade name").fill("driver")
    grade.get_by_label("Grade label").fill("Driver")
    grade.get_by_label("Salary").fill("150")
    dialog.get_by_role("button", name="Add grade").click()
    second = dialog.locator("[data-grade]").nth(1)
    second.get_by_label("Grade name").fill("boss")
    second.get_by_label("Grade label").fill("Owner")
    second.get_by_label("Salary").fill("400")
    dialog.get_by_role("button", name="Save job").click()
    expect(jobs.locator(".msg-success").last).to_contain_text("Job taxi created")
    taxi = jobs.locator('#job-rows tr[data-job="taxi"]')
    expect(taxi).to_contain_text("Downtown Cab Co.")
    expect(taxi.locator(".grades li")).to_have_count(2)
    expect(jobs.locator("#job-rows tr[data-job]")).to_have_count(before + 1)

    taxi.get_by_role("button", name="Edit").click()
    expect(dialog.locator("input[name=name]")).to_have_attribute("readonly", "")
    dialog.locator("input[name=label]").fill("Downtown Cab Company")
    dialog.get_by_role("button", name="Save job").click()
    expect(taxi).to_contain_text("Downtown Cab Company")
    screenshot(jobs, "jobs")

    # A jobs.view holder sees the change live but gets no controls.
    clerk_context = browser_context.browser.new_context()
    try:
        clerk = clerk_context.new_page()
        clerk.goto(f"{live.server.http}/jobs/")
        clerk.fill("input[name=username]", "clerk")
        clerk.fill("input[name=password]", "pw-clerk")
        clerk.click("button[type=submit]")
        expect(clerk.locator('#job-rows tr[data-job="taxi"]')).to_contain_text("Downtown Cab Company")
        expect(clerk.locator("#job-rows button")).to_have_count(0)
        expect(clerk.get_by_role("button", name="New job")).to_be_hidden()

        taxi.get_by_role("button", name="Delete").click()
        jobs.locator("#job-delete-dialog").get_by_role("button", name="Delete job").click()
        expect(jobs.locator(".msg-success").last).to_contain_text("Job taxi deleted")
        expect(taxi).to_have_count(0)
        expect(clerk.locator('#job-rows tr[data-job="taxi"]')).to_have_count(0)
    finally:
        clerk_context.close()

    audit = browser_context.new_page()
    audit.goto(f"{live.server.http}/audit/")
    expect(audit.locator("#audit-rows")).to_contain_text("job.delete")
    expect(audit.locator("#audit-rows")).to_contain_text("job.create")
    audit.select_option("#audit-action", "job.update")
    expect(audit.locator("#audit-rows tr")).to_have_count(1)
    screenshot(audit, "audit")


def test_controls_follow_the_users_rights_while_the_page_is_open(browser_context, platform, redis_env, simulators):
    # Grants change in another process (manage.py ws_grant); Redis carries the news.
    platform.env.update(redis_env)
    live = Live(platform)
    live.add_user("mod", ["players.view", "players.kick"])
    simulate(live, simulators)
    page = sign_in(browser_context, live, "mod", "/players/")
    kick, ban = page.locator("button[data-action=kick]"), page.locator("button[data-action=ban]")
    expect(player_rows(page)).to_have_count(ONLINE)
    expect(kick).to_have_count(ONLINE)
    expect(ban).to_have_count(0)

    platform.manage("ws_grant", "mod", "players.view")
    expect(kick).to_have_count(0)
    expect(page.locator(".msg-info").last).to_contain_text("Your permissions changed: players.view.")

    # Given back: the page's token still carries it.
    platform.manage("ws_grant", "mod", "players.view", "players.kick")
    expect(kick).to_have_count(ONLINE)
    expect(page.locator(".msg-info").last).to_contain_text("players.view, players.kick")
    expect(page.locator("body")).to_have_attribute("data-connection", "open")

    # Taking players.view away empties what the page may ask; the server refuses the list.
    platform.manage("ws_grant", "mod", "players.kick")
    expect(page.locator(".msg-info").last).to_contain_text("Your permissions changed: players.kick.")
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator(".msg-error").last).to_contain_text("getPlayers requires players.view")


def test_signing_out_in_another_tab_ends_this_tabs_socket_and_says_so(browser_context, live):
    live.add_user("boss", superuser=True)
    browser_context.allowed_errors.append("status of 401")  # the token endpoint's "sign in first"
    page = sign_in(browser_context, live, "boss")
    other = browser_context.new_page()
    other.goto(f"{live.server.http}/players/")
    other.wait_for_selector("body[data-connection=open]")
    other.get_by_test_id("logout").click()
    expect(other.locator("input[name=username]")).to_be_visible()

    # The tokens of that login are revoked: this tab's socket is closed and, with no
    # session left to get another, the page stops and asks to sign in again.
    banner = page.locator("#connection-banner")
    expect(banner).to_contain_text("Your session has ended. Sign in again.")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "stopped")
    banner.get_by_role("link", name="Sign in again").click()
    expect(page.locator("input[name=username]")).to_be_visible()
    assert live.query("SELECT COUNT(*) FROM accounts_issuedtoken WHERE revoked_at IS NULL AND label = 'web admin'") == [(0,)]
