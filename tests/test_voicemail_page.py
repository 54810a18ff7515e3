"""Scenario 3's page in a real headless browser (Chromium, as in test_control_page.py)."""

import pytest
from test_control_page import watch_for_trouble
from test_voicemail_end_to_end import AUDIO, CALLER, leave_message, wait_for

from testing.processes import session

sync_api = pytest.importorskip("playwright.sync_api")
TOKEN = "voicemail-owner-token-0123456789"


def test_the_page_lists_plays_and_deletes_messages_under_its_policy(
    browser,
    serve_scenario_3,
    fake_api,
):
    server = serve_scenario_3(CONTROL_TOKEN=TOKEN)
    leave_message(server, fake_api)
    [message] = wait_for(
        lambda: session().get(f"{server.base}/messages?token={TOKEN}", timeout=5).json()["messages"]
    )
    page = browser.new_page()
    trouble = watch_for_trouble(page)

    page.goto(f"{server.base}/?token={TOKEN}")

    row = page.locator("#messages tr")
    sync_api.expect(row).to_have_count(1)
    sync_api.expect(row).to_contain_text(CALLER)
    sync_api.expect(row).to_contain_text("9 s")
    sync_api.expect(page.locator("#empty")).to_be_hidden()
    # The player may fetch the audio (media-src 'self'): it gets the bytes the fake handed over.
    fetched = page.evaluate(
        "async () => new Uint8Array(await (await fetch("
        "document.querySelector('audio').src)).arrayBuffer()).length"
    )
    assert fetched == len(AUDIO)
    page.evaluate("document.querySelector('audio').load()")

    page.get_by_role("button", name=f"Delete the message from {CALLER}").click()

    sync_api.expect(page.locator("#result")).to_have_text("Message deleted")
    sync_api.expect(row).to_have_count(0)
    sync_api.expect(page.locator("#empty")).to_be_visible()
    assert session().get(f"{server.base}/messages/{message['id']}.mp3").status_code == 404
    assert trouble == []
    page.close()


def test_without_the_token_the_page_is_refused(browser, serve_scenario_3):
    server = serve_scenario_3(CONTROL_TOKEN=TOKEN)
    page = browser.new_page()

    assert page.goto(f"{server.base}/").status == 401
    page.close()
