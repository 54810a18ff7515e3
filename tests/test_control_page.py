"""The control page in a real headless browser (Debian's Chromium driven by Playwright).

On a user's machine without Chromium these tests are skipped; in CI (CI=true) they must run.
"""

import os
import shutil

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

TOKEN = "page-owner-token-0123456789"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from the system; Playwright's own browser downloads cannot work here."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: CI must install it (apt-get install chromium)")
        pytest.skip("Chromium is not installed (sudo apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def server(serve_scenario_2):
    """Scenario 2 as a process, with a control token and the fake Voice API."""
    return serve_scenario_2(
        CONTROL_TOKEN=TOKEN,
        CONF_NAME="Friday stand-up",
    )


def open_page(browser, server, width=1280, height=800):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{server.base}/?token={TOKEN}")
    return page


def test_the_page_shows_the_callers_and_plays_music_on_click(browser, server, fake_api):
    server.get("/webhooks/answer?uuid=leg-1&from=447700900001")
    server.get("/webhooks/answer?uuid=leg-2&from=447700900002")
    page = open_page(browser, server)

    sync_api.expect(page.locator("h1")).to_have_text("Friday stand-up")
    sync_api.expect(page.locator("#legs tr")).to_have_count(2)
    sync_api.expect(page.locator("#legs")).to_contain_text("447700900002")
    sync_api.expect(page.locator("#mode")).to_have_text("manual")
    sync_api.expect(page.locator("#music")).to_have_text("not playing")

    page.get_by_role("button", name="Play music").click()

    sync_api.expect(page.locator("#result")).to_have_text(
        "streaming into the conference (leg leg-2)"
    )
    sync_api.expect(page.locator("#music")).to_have_text("playing on leg-2")
    assert [(method, uuid) for method, uuid, _, problem in fake_api.requests] == [("PUT", "leg-2")]
    assert all(problem is None for *_, problem in fake_api.requests)
    page.close()


def test_stop_works_from_the_keyboard_and_errors_show_on_the_page(browser, server, fake_api):
    page = open_page(browser, server)
    sync_api.expect(page.locator("#empty")).to_be_visible()

    page.get_by_role("button", name="Play music").focus()
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#result")).to_have_text(
        "no one is in the conference yet: dial your Vonage number first"
    )
    sync_api.expect(page.locator("#play")).to_be_focused()  # still there for another Enter
    page.keyboard.press("Tab")
    sync_api.expect(page.locator("#stop")).to_be_focused()
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#result")).to_have_text(
        "nothing is streaming: start the music first (Play music, or /stream)"
    )
    assert fake_api.requests == []
    page.close()


def test_the_page_updates_on_its_own_as_callers_come_and_go(browser, server):
    page = open_page(browser, server)
    sync_api.expect(page.locator("#legs tr")).to_have_count(0)

    server.get("/webhooks/answer?uuid=leg-7&from=447700900007")

    sync_api.expect(page.locator("#legs tr")).to_have_count(1, timeout=8000)
    page.close()


def test_at_phone_width_nothing_overflows_sideways(browser, server):
    server.get("/webhooks/answer?uuid=aaaaaaaa-bbbb-cccc-dddd-0123456789ab&from=447700900001")
    page = open_page(browser, server, width=360, height=740)
    sync_api.expect(page.locator("#legs tr")).to_have_count(1)

    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")

    assert overflow <= 0
    page.close()


def test_without_the_token_the_page_is_refused(browser, server):
    page = browser.new_page()

    response = page.goto(f"{server.base}/")

    assert response.status == 401
    page.close()
