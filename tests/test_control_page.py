"""The control page in a real headless browser (Debian's Chromium driven by Playwright).

On a user's machine without Chromium these tests are skipped; in CI (CI=true) they must run.
"""

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

TOKEN = "page-owner-token-0123456789"


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


def watch_for_trouble(page):
    """What shows a page breaking its own policy, as a list that fills while the page runs:
    `securitypolicyviolation` events, console errors and warnings, and uncaught script errors.

    Playwright's init script and binding are not the page's own code: its policy does not apply
    to them, so they see every violation from the first byte, on every load.
    """
    trouble = []
    page.expose_function("reportViolation", lambda what: trouble.append(f"CSP: {what}"))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', (event) => "
        "reportViolation(event.effectiveDirective + ' blocked ' + event.blockedURI));"
    )
    page.on(
        "console",
        lambda message: (
            trouble.append(f"console {message.type}: {message.text}")
            if message.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda error: trouble.append(f"script error: {error}"))
    return trouble


def test_the_page_works_under_its_security_policy_without_a_single_violation(
    browser, server, fake_api
):
    server.get("/webhooks/answer?uuid=leg-1&from=447700900001")
    page = browser.new_page()
    trouble = watch_for_trouble(page)

    response = page.goto(f"{server.base}/?token={TOKEN}")

    assert "script-src 'self'" in response.headers["content-security-policy"]  # it is enforced
    sync_api.expect(page.locator("#legs tr")).to_have_count(1)  # the script ran and fetched
    # ...and the stylesheet applied: the buttons have their rounded corners.
    assert page.evaluate("getComputedStyle(document.querySelector('#play')).borderRadius") != "0px"
    page.reload()
    sync_api.expect(page.locator("#legs tr")).to_have_count(1)
    with page.expect_response(f"{server.base}/status", timeout=8000):
        pass  # the page's own refresh, every 3 seconds
    page.get_by_role("button", name="Play music").click()
    sync_api.expect(page.locator("#result")).to_have_text(
        "streaming into the conference (leg leg-1)"
    )
    page.get_by_role("button", name="Stop", exact=True).click()
    sync_api.expect(page.locator("#result")).to_have_text("stopped the stream (leg leg-1)")
    sync_api.expect(page.locator("#music")).to_have_text("not playing")

    assert trouble == []
    assert [method for method, *_ in fake_api.requests] == ["PUT", "DELETE"]
    page.close()


def test_a_script_injected_into_the_page_does_not_run_and_is_reported(browser, server):
    page = browser.new_page()
    trouble = watch_for_trouble(page)
    page.goto(f"{server.base}/?token={TOKEN}")
    sync_api.expect(page.locator("#empty")).to_be_visible()

    # What a cross-site-scripting hole would do: add an inline script to the page.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.injected = true'; document.body.append(s); }"
    )

    assert page.evaluate("window.injected") is None
    for _ in range(50):  # the report reaches us through the browser's event loop
        if "CSP: script-src-elem blocked inline" in trouble:
            break
        page.wait_for_timeout(100)
    assert "CSP: script-src-elem blocked inline" in trouble
    page.close()


def test_the_page_says_which_store_is_down_and_recovers_when_it_is_back(
    browser, serve_scenario_2, redis_server, redis_url
):
    server = serve_scenario_2(CONTROL_TOKEN=TOKEN, STATE_URL=redis_url)
    server.get("/webhooks/answer?uuid=leg-1&from=447700900001")
    page = open_page(browser, server)
    sync_api.expect(page.locator("#legs tr")).to_have_count(1)

    redis_server.pause()
    try:
        sync_api.expect(page.locator("#result")).to_have_text(
            f"Could not read the conference state: the conference store at {redis_url} did not"
            " answer within 0.5 s: check that Redis is running and reachable, and STATE_URL",
            timeout=8000,
        )
        # Unknown is not empty: no "No one is in the conference" while callers may be on.
        sync_api.expect(page.locator("#empty")).to_be_hidden()
    finally:
        redis_server.resume()

    sync_api.expect(page.locator("#result")).to_be_empty(timeout=8000)
    sync_api.expect(page.locator("#legs tr")).to_have_count(1)
    page.close()


def test_words_typed_on_the_page_are_said_in_the_language_chosen_from_the_keyboard(
    browser, server, fake_api
):
    server.get("/webhooks/answer?uuid=leg-1&from=447700900001")
    page = open_page(browser, server)
    trouble = watch_for_trouble(page)
    sync_api.expect(page.locator("#legs tr")).to_have_count(1)

    page.get_by_label("Words to say into the conference").fill("Nous commençons bientôt.")
    page.get_by_label("Language").select_option("fr-FR")
    page.get_by_role("button", name="Say", exact=True).focus()
    page.keyboard.press("Enter")

    sync_api.expect(page.get_by_role("status")).to_have_text(
        "speaking into the conference (leg leg-1)"
    )
    page.get_by_role("button", name="Stop speaking").click()
    sync_api.expect(page.get_by_role("status")).to_have_text("stopped speaking (leg leg-1)")
    assert fake_api.talks == [
        ("PUT", "leg-1", {"text": "Nous commençons bientôt.", "language": "fr-FR"}, None),
        ("DELETE", "leg-1", None, None),
    ]
    assert trouble == []
    page.close()


def test_saying_nothing_shows_why_on_the_page(browser, server, fake_api):
    server.get("/webhooks/answer?uuid=leg-1&from=447700900001")
    page = open_page(browser, server)

    page.get_by_role("button", name="Say", exact=True).click()

    sync_api.expect(page.locator("#result")).to_have_text("give text to say: 1 to 1,500 characters")
    assert fake_api.talks == []
    page.close()


def test_the_page_says_where_the_music_went_when_its_caller_hung_up(browser, server, fake_api):
    for uuid in ("leg-1", "leg-2"):
        server.get(f"/webhooks/answer?uuid={uuid}&from=447700900001")
    page = open_page(browser, server)
    page.get_by_role("button", name="Play music").click()
    sync_api.expect(page.locator("#music")).to_have_text("playing on leg-2")

    server.get("/webhooks/event?uuid=leg-2&status=completed")

    # STREAM_LOOP is unset: Vonage's remote sample plays once, so it ends with its caller.
    sync_api.expect(page.locator("#music")).to_have_text(
        "the music ended with the caller it played through", timeout=8000
    )
    page.close()
