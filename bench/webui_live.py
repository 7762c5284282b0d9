"""How quickly the web admin goes live and follows the game. Prints figures.

    python bench/webui_live.py [--players 500] [--runs 5] [--kicks 10]

Starts a `serve` process on a temporary sqlite database and `simulate_server` with PLAYERS
players online (the world kept still), then drives headless Chromium (/usr/bin/chromium):

- sign-in: from the "Sign in" click to the dashboard loaded (Django's password hashing
  dominates), then to an authenticated socket (modules, the token endpoint, connect, auth);
- players page: from navigation to every player's row rendered (getPlayers included);
- filter: re-rendering the list for one keystroke, timed inside the page;
- kick: from the confirm click to the row gone on that page, and to the entry in the
  feed of a dashboard open in another tab (the playerKicked broadcast, end to end); and
  the bare kickPlayer request from the page's client, for comparison.

Times are wall-clock on one machine, as Playwright sees them (its round trips included).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import Platform, start_simulator  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def summary(name: str, values: list[float]) -> None:
    values = sorted(values)
    print(f"{name:<44} median {ms(statistics.median(values)):>8}   min {ms(values[0]):>8}   "
          f"max {ms(values[-1]):>8}   (n={len(values)})")


def sign_in(browser, base: str):  # noqa: ANN001, ANN201
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "pw-boss")
    start = time.perf_counter()
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/", wait_until="domcontentloaded")
    loaded = time.perf_counter() - start  # the login POST (password hashing) and the page
    page.wait_for_selector("body[data-connection=open]", state="attached", timeout=30000)
    return context, page, (loaded, time.perf_counter() - start - loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kicks", type=int, default=10)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Path(tmp))
        platform.migrate()
        platform.shell("from tests.helpers import make_user; make_user('boss', superuser=True)")
        server = platform.start()
        sim, _ = start_simulator(
            platform, server.url, "--players", str(args.players), "--online", str(args.players), "--pace", "0"
        )
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
                )
                print(f"web admin against {args.players} simulated players online")
                signins, loads, filters = [], [], []
                for _ in range(args.runs):
                    context, page, took = sign_in(browser, server.http)
                    signins.append(took)
                    start = time.perf_counter()
                    page.goto(f"{server.http}/players/")
                    page.wait_for_function(
                        "n => document.querySelectorAll('#player-rows tr[data-source]').length === n",
                        arg=args.players, timeout=60000,
                    )
                    loads.append(time.perf_counter() - start)
                    filters.append(page.evaluate("""() => {
                        const input = document.querySelector("#player-filter");
                        const start = performance.now();
                        input.value = "license:a";
                        input.dispatchEvent(new Event("input"));
                        const took = performance.now() - start;
                        input.value = "";
                        input.dispatchEvent(new Event("input"));
                        return took / 1000;
                    }"""))
                    context.close()
                summary("sign-in click -> dashboard loaded", [a for a, _ in signins])
                summary("dashboard loaded -> socket live", [b for _, b in signins])
                summary(f"players page -> {args.players} rows rendered", loads)
                summary("filter keystroke -> list re-rendered", filters)

                context, dashboard, _ = sign_in(browser, server.http)
                players = context.new_page()
                players.goto(f"{server.http}/players/")
                players.wait_for_selector("#player-rows tr[data-source]")
                rows, feeds = [], []
                for n in range(1, args.kicks + 1):
                    row = players.locator("#player-rows tr[data-source]").first
                    source = row.get_attribute("data-source")
                    row.get_by_role("button", name="Kick").click()
                    players.fill("#kick-dialog textarea[name=reason]", f"bench {n}")
                    start = time.perf_counter()
                    players.click("[data-testid=confirm-kick]")
                    players.wait_for_selector(f'#player-rows tr[data-source="{source}"]', state="detached")
                    rows.append(time.perf_counter() - start)
                    dashboard.wait_for_function(
                        "n => [...document.querySelectorAll('#feed li[data-event=playerKicked]')]"
                        ".some(li => li.textContent.endsWith(n))",
                        arg=f"bench {n}",
                    )
                    feeds.append(time.perf_counter() - start)
                # The same command without the page: the protocol and the game's round trip.
                requests = []
                for n in range(args.kicks):
                    source = int(players.locator("#player-rows tr[data-source]").first.get_attribute("data-source"))
                    requests.append(players.evaluate("""async (source) => {
                        const { client } = await import("/static/js/webui/app.js");
                        const start = performance.now();
                        await client.request("kickPlayer", { source, reason: "bench" });
                        return (performance.now() - start) / 1000;
                    }""", source))
                    players.wait_for_selector(f'#player-rows tr[data-source="{source}"]', state="detached")
                summary("kickPlayer request -> success (in the page)", requests)
                summary("kick confirm -> row gone", rows)
                summary("kick confirm -> entry in another tab's feed", feeds)
                context.close()
                browser.close()
        finally:
            sim.terminate()
            sim.wait(10)
            platform.stop_all()


if __name__ == "__main__":
    main()
