"""The owner's pages pass axe-core's accessibility rules at desktop and phone widths, with
callers, music and messages on them (axe-playwright-python carries axe-core itself)."""

import pytest
from test_voicemail_end_to_end import leave_message, wait_for

from testing.processes import session

pytest.importorskip("playwright.sync_api")
Axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe
TOKEN = "axe-owner-token-0123456789"
WIDTHS = [(1280, 800), (360, 740)]


def violations(browser, url, ready, width, height):
    """axe-core's violations on the page at `url` once `ready` (a selector) is there."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector(ready)
    found = [
        f"{rule['id']}: {[node['target'] for node in rule['nodes']]}"
        for rule in Axe().run(page).response["violations"]
    ]
    page.close()
    return found


@pytest.mark.parametrize(("width", "height"), WIDTHS, ids=["desktop", "phone"])
def test_the_control_page_breaks_no_axe_rule(browser, serve_scenario_2, fake_api, width, height):
    server = serve_scenario_2(CONTROL_TOKEN=TOKEN)
    server.get("/webhooks/answer?uuid=leg-1&from=447700900001")
    session().get(f"{server.base}/stream?token={TOKEN}", timeout=20)

    found = violations(browser, f"{server.base}/?token={TOKEN}", "#legs tr", width, height)

    assert found == []


@pytest.mark.parametrize(("width", "height"), WIDTHS, ids=["desktop", "phone"])
def test_the_messages_page_breaks_no_axe_rule(browser, serve_scenario_3, fake_api, width, height):
    server = serve_scenario_3(CONTROL_TOKEN=TOKEN)
    leave_message(server, fake_api)
    wait_for(
        lambda: session().get(f"{server.base}/messages?token={TOKEN}", timeout=5).json()["messages"]
    )

    found = violations(browser, f"{server.base}/?token={TOKEN}", "#messages tr", width, height)

    assert found == []
