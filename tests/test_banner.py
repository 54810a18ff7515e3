"""The startup banner: the exact URLs to paste into the Vonage dashboard, wherever it runs."""

import pytest
from conftest import APPLICATION_ID

import settings as config
import startup

PAGES = [("play music into the conference", "/stream"), ("stop the music", "/stream/stop")]


def banner_for(env, voice_api=False, browser=()):
    settings = config.load(env)
    if voice_api:
        settings = config.Settings(
            **{
                **vars(settings),
                "application_id": APPLICATION_ID,
                "private_key": "PEM-TEXT-NEVER-SHOWN",
            }
        )
    return startup.banner(settings, "Scenario 2", voice_api=voice_api, browser=browser)


def test_in_a_codespace_the_urls_are_the_forwarded_port(private_pem):
    env = {
        "CODESPACE_NAME": "fuzzy-lamp-x7",
        "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN": "app.github.dev",
        "PORT": "9000",
    }

    lines = banner_for(env, voice_api=True, browser=PAGES).splitlines()

    assert "  Answer URL  https://fuzzy-lamp-x7-9000.app.github.dev/webhooks/answer" in lines
    assert "  Event URL   https://fuzzy-lamp-x7-9000.app.github.dev/webhooks/event" in lines
    assert (
        "  https://fuzzy-lamp-x7-9000.app.github.dev/stream  (play music into the conference)"
        in lines
    )
    assert "  https://fuzzy-lamp-x7-9000.app.github.dev/stream/stop  (stop the music)" in lines
    assert not any("tunnel" in line for line in lines)


def test_codespace_domain_falls_back_to_app_github_dev_and_follows_port():
    text = banner_for({"CODESPACE_NAME": "fuzzy-lamp-x7", "PORT": "8123"})

    assert "https://fuzzy-lamp-x7-8123.app.github.dev/webhooks/answer" in text


def test_public_url_wins_and_loses_its_trailing_slash():
    text = banner_for({"PUBLIC_URL": "https://abc.ngrok.app/", "CODESPACE_NAME": "fuzzy-lamp"})

    assert "  Answer URL  https://abc.ngrok.app/webhooks/answer" in text.splitlines()
    assert "github.dev" not in text and "tunnel" not in text


def test_locally_the_urls_are_local_and_a_line_says_vonage_needs_public_https():
    lines = banner_for({"HOST": "0.0.0.0", "PORT": "9001"}).splitlines()

    assert "  Answer URL  http://localhost:9001/webhooks/answer" in lines
    assert "  Event URL   http://localhost:9001/webhooks/event" in lines
    assert lines[-3] == (
        "Vonage needs a public HTTPS URL to reach these: run in a GitHub Codespace, or start a "
        "tunnel (such as `ngrok http 9001`) and set PUBLIC_URL to its https:// address."
    )


def test_banner_shows_the_settings_in_effect_and_never_the_key():
    env = {
        "STREAM_URL": "https://example.com/hold.mp3",
        "STREAM_LEVEL": "0.3",
        "STREAM_LOOP": "0",
        "CONF_NAME": "Board",
    }
    settings = config.Settings(
        **{
            **vars(config.load(env, voice_api=False)),
            "conf_name": "Board",
            "application_id": APPLICATION_ID,
            "private_key": "SECRET-PEM",
        }
    )

    text = startup.banner(settings, "Scenario 2", voice_api=True)

    assert text.splitlines()[-1] == (
        "Settings: stream https://example.com/hold.mp3, level 0.3, loop 0 (forever), "
        f"conference 'Board', mode manual, application {APPLICATION_ID}, Voice API in each "
        f"call's region, else api.nexmo.com, state in the SQLite file {config.PROJECT_DIR}/"
        "conference.sqlite3"
    )
    assert "SECRET-PEM" not in text


def test_banner_says_where_the_state_lives_without_the_redis_password(private_pem):
    settings = config.load(
        {
            "VONAGE_APPLICATION_ID": APPLICATION_ID,
            "VONAGE_PRIVATE_KEY": private_pem,
            "STATE_URL": "redis://:hunter2-secret@redis.internal:6380/2",
        },
        voice_api=True,
    )

    text = startup.banner(settings, "Scenario 2", voice_api=True)

    assert text.endswith("state in Redis at redis://:***@redis.internal:6380/2")
    assert "hunter2" not in text and "hunter2" not in repr(settings)


def test_scenario_1_banner_lists_no_pages_to_open():
    text = banner_for({})

    assert "Open in your browser" not in text
    assert text.splitlines()[-1] == f"Settings: stream {config.DEFAULT_STREAM_URL}"


@pytest.mark.parametrize("raw", ["abc.ngrok.app", "ftp://abc", "https://abc.ngrok.app/?x=1"])
def test_a_bad_public_url_is_refused_with_its_fix(raw):
    with pytest.raises(config.SettingsError) as caught:
        config.load({"PUBLIC_URL": raw})

    assert caught.value.problems == [
        f"PUBLIC_URL={raw!r} is not allowed: give the public base URL Vonage reaches, such as "
        "https://abc.ngrok.app (see .env.example)"
    ]


@pytest.mark.parametrize(("token", "warned"), [(None, True), ("owner-token-0123456789", False)])
def test_the_banner_says_the_owners_pages_are_open_until_control_token_locks_them(token, warned):
    settings = config.Settings(control_token=token)

    text = startup.banner(settings, "Scenario 3", browser=[("the messages", "/")])

    line = "Anyone with these links can use these pages: set CONTROL_TOKEN to lock them."
    assert (line in text) is warned
