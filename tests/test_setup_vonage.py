"""setup-vonage.py, run as a user runs it, against a fake Application API and Numbers API."""

import base64
import logging
import re
import shutil
import stat
import subprocess
import sys
import time

import pytest
from conftest import API_KEY

import vonage_setup
from testing.processes import ROOT, clean_env, free_port

PUBLIC_URL = "https://fuzzy-lamp-x7-9000.app.github.dev"
ANSWER_URL = PUBLIC_URL + "/webhooks/answer"
EVENT_URL = PUBLIC_URL + "/webhooks/event"
NUMBER = "447700900001"
OTHER_NUMBER = "447700900002"
CALL_LINE = (
    f"Start .venv/bin/python scenario-1.py and call +{NUMBER}: you will hear the music "
    "(with scenario-2.py, the conference greeting)."
)


@pytest.fixture
def setup_project(project):
    """A fresh clone: the scripts and .env.example, no .env, no private.key."""
    shutil.copy(ROOT / ".env.example", project / ".env.example")
    return project


@pytest.fixture
def setup(setup_project, account, api_secret):
    """Run `python setup-vonage.py *args` in the project against the fake, with the account's
    key and secret and PUBLIC_URL unless `settings` say otherwise. Every run's output is
    checked for secrets."""

    def run(*args, timeout=30, **settings):
        env = {
            "VONAGE_API_KEY": API_KEY,
            "VONAGE_API_SECRET": api_secret,
            "VONAGE_SETUP_API_HOST": account.host,
            "VONAGE_SETUP_REST_HOST": account.host,
            "REQUESTS_CA_BUNDLE": str(account.ca_file),
            "PUBLIC_URL": PUBLIC_URL,
            **settings,
        }
        result = subprocess.run(
            [sys.executable, "setup-vonage.py", *args],
            cwd=setup_project,
            env=clean_env(**{k: v for k, v in env.items() if v is not None}),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert_no_secret(result.stdout + result.stderr, api_secret, account)
        return result

    return run


def assert_no_secret(output, api_secret, account):
    credentials = base64.b64encode(f"{API_KEY}:{api_secret}".encode()).decode()
    assert api_secret not in output
    assert credentials not in output
    assert "Basic " not in output
    assert "PRIVATE KEY" not in output
    for pem in account.private_keys:
        body = pem.splitlines()[1]  # a line of the key itself
        assert body not in output
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", output)
    assert "Traceback" not in output


def voice_document(answer, event, **extra_voice):
    return {"voice": {"webhooks": {"answer_url": answer, "event_url": event}, **extra_voice}}


def expected_env(example_text, application_id):
    return example_text.replace(
        "\nVONAGE_APPLICATION_ID=\n", f"\nVONAGE_APPLICATION_ID={application_id}\n"
    )


# --- create, update, rerun ---


def test_setup_without_an_application_creates_one_saves_its_key_writes_env_and_links(
    setup, account, setup_project
):
    account.add_number(NUMBER)

    result = setup()

    assert result.returncode == 0, result.stderr
    (created,) = [r for r in account.requests if r.method == "POST" and "applications" in r.path]
    assert created.content_type.startswith("application/json")
    assert created.body == {
        "name": "vonage-audio-stream fuzzy-lamp-x7-9000.app.github.dev",
        "capabilities": {
            "voice": {
                "webhooks": {
                    "answer_url": {"address": ANSWER_URL, "http_method": "GET"},
                    "event_url": {"address": EVENT_URL, "http_method": "POST"},
                }
            }
        },
    }
    (application_id,) = account.applications
    key = setup_project / "private.key"
    assert key.read_text() == account.private_keys[0]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    example = (setup_project / ".env.example").read_text()
    assert (setup_project / ".env").read_text() == expected_env(example, application_id)
    (linked,) = [r for r in account.requests if r.path == "/number/update"]
    assert linked.content_type == "application/x-www-form-urlencoded"
    assert linked.body == {"country": "GB", "msisdn": NUMBER, "app_id": application_id}
    assert account.numbers[0]["app_id"] == application_id
    assert result.stdout.splitlines() == [
        f"Created application {application_id} "
        "(vonage-audio-stream fuzzy-lamp-x7-9000.app.github.dev)",
        f"Saved its private key to {key} (readable by you only)",
        f"Wrote VONAGE_APPLICATION_ID={application_id} to .env",
        f"Linked +{NUMBER} to application {application_id}",
        CALL_LINE,
    ]


def test_every_request_carries_basic_auth_with_the_key_and_secret(setup, account, api_secret):
    account.add_number(NUMBER)

    setup()

    credentials = base64.b64encode(f"{API_KEY}:{api_secret}".encode()).decode()
    assert [r.authorization for r in account.requests] == [f"Basic {credentials}"] * len(
        account.requests
    )
    assert len(account.requests) == 3  # list the numbers, create, link


def test_setup_with_an_application_changes_only_its_voice_webhooks_and_keeps_the_rest(
    setup, account, setup_project
):
    # Fields the SDK's models do not know (the spec's `connection_timeout`, `payment_enabled`,
    # a made-up future one) must survive, as must everything else Vonage holds.
    document = {
        "name": "My Server Demo",
        "keys": {"public_key": "-----BEGIN PUBLIC KEY-----\nkept\n-----END PUBLIC KEY-----\n"},
        "privacy": {"improve_ai": False},
        "capabilities": {
            **voice_document(
                {
                    "address": "https://old.ngrok.app/webhooks/answer",
                    "http_method": "POST",
                    "socket_timeout": 5000,
                    "connection_timeout": 500,
                },
                {"address": "https://old.ngrok.app/webhooks/event", "http_method": "GET"},
                signed_callbacks=True,
                conversations_ttl=48,
                leg_persistence_time=7,
                payment_enabled=False,
            ),
            "messages": {"webhooks": {"inbound_url": {"address": "https://x.example/in"}}},
        },
        "a_future_field": {"kept": True},
    }
    application_id = account.add_application(document)
    account.add_number(NUMBER, app_id=application_id)

    result = setup(VONAGE_APPLICATION_ID=application_id)

    assert result.returncode == 0, result.stderr
    (put,) = account.changes()
    assert (put.method, put.path) == ("PUT", f"/v2/applications/{application_id}")
    expected = {**document}
    expected["capabilities"] = {
        **document["capabilities"],
        "voice": {
            **document["capabilities"]["voice"],
            "webhooks": {
                "answer_url": {
                    "address": ANSWER_URL,
                    "http_method": "GET",
                    "socket_timeout": 5000,
                    "connection_timeout": 500,
                },
                "event_url": {"address": EVENT_URL, "http_method": "POST"},
            },
        },
    }
    assert put.body == expected
    assert not (setup_project / "private.key").exists()
    assert not (setup_project / ".env").exists()
    assert result.stdout.splitlines() == [
        f"Application {application_id} now sends calls to {ANSWER_URL}",
        CALL_LINE,
    ]


def test_setup_run_twice_changes_nothing_the_second_time(setup, account, setup_project):
    account.add_number(NUMBER)
    assert setup().returncode == 0
    env_before = (setup_project / ".env").read_bytes()
    key_before = (setup_project / "private.key").read_bytes()
    changes_before = len(account.changes())

    again = setup()

    assert again.returncode == 0, again.stderr
    assert len(account.changes()) == changes_before
    assert (setup_project / ".env").read_bytes() == env_before
    assert (setup_project / "private.key").read_bytes() == key_before
    (application_id,) = account.applications
    assert again.stdout.splitlines() == [
        f"Already set up: application {application_id} sends calls to {ANSWER_URL} and "
        f"+{NUMBER} is linked to it; nothing changed.",
        CALL_LINE,
    ]


def test_dry_run_without_an_application_says_what_it_would_do_and_changes_nothing(
    setup, account, setup_project
):
    account.add_number(NUMBER)

    result = setup("--dry-run")

    assert result.returncode == 0, result.stderr
    assert account.changes() == []
    assert sorted(p.name for p in setup_project.glob("*env*")) == [".env.example"]
    assert not (setup_project / "private.key").exists()
    assert result.stdout.splitlines() == [
        "Dry run: nothing changed. Without --dry-run, this would:",
        "  create an application named 'vonage-audio-stream fuzzy-lamp-x7-9000.app.github.dev'"
        f" that sends calls to {ANSWER_URL} (GET) and {EVENT_URL} (POST)",
        f"  save its private key to {setup_project / 'private.key'}, readable by you only",
        "  write its id to .env as VONAGE_APPLICATION_ID",
        f"  link +{NUMBER} to the application",
    ]


def test_dry_run_with_an_application_pointing_elsewhere_changes_nothing(setup, account):
    application_id = account.add_application(
        {"name": "old", "capabilities": voice_document({"address": "https://old/a"}, None)}
    )
    account.add_number(NUMBER, app_id=application_id)

    result = setup("--dry-run", VONAGE_APPLICATION_ID=application_id)

    assert result.returncode == 0, result.stderr
    assert account.changes() == []
    assert f"point application {application_id} at {ANSWER_URL} (GET)" in result.stdout


# --- what is on disk ---


def test_setup_keeps_an_existing_private_key_and_stops_before_creating(
    setup, account, setup_project
):
    account.add_number(NUMBER)
    key = setup_project / "private.key"
    key.write_text("the user's own key\n")

    result = setup()

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"{key} exists and a new application comes with a new key, which must not overwrite "
        "it: set VONAGE_APPLICATION_ID to the application that key belongs to, or move the "
        "file away (or set VONAGE_PRIVATE_KEY to a new path) and run again (see .env.example)\n"
    )
    assert key.read_text() == "the user's own key\n"
    assert account.requests == [] or account.changes() == []


@pytest.mark.parametrize(
    "before, after",
    [
        (
            b"# mine\r\nSTREAM_LOOP=0\r\nVONAGE_APPLICATION_ID=\r\nexport  PORT = 9001 \r\n",
            b"# mine\r\nSTREAM_LOOP=0\r\nVONAGE_APPLICATION_ID={id}\r\nexport  PORT = 9001 \r\n",
        ),
        (
            b"CONTROL_TOKEN='a b'  # comment\nPORT=9000",  # no id line, no final newline
            b"CONTROL_TOKEN='a b'  # comment\nPORT=9000\nVONAGE_APPLICATION_ID={id}\n",
        ),
    ],
    ids=["crlf with the line", "without the line"],
)
def test_setup_changes_only_the_application_id_line_of_an_existing_env(
    setup, account, setup_project, before, after
):
    account.add_number(NUMBER)
    env_file = setup_project / ".env"
    env_file.write_bytes(before)
    env_file.chmod(0o640)

    result = setup()

    assert result.returncode == 0, result.stderr
    (application_id,) = account.applications
    assert env_file.read_bytes() == after.replace(b"{id}", application_id.encode())
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640
    assert [p.name for p in setup_project.glob(".env.*") if p.name != ".env.example"] == []


def test_a_new_env_is_made_from_the_example_and_readable_by_its_owner_only(
    setup, account, setup_project
):
    account.add_number(NUMBER)

    assert setup().returncode == 0

    assert stat.S_IMODE((setup_project / ".env").stat().st_mode) == 0o600


# --- the number ---


def test_vonage_number_picks_one_of_several(setup, account):
    account.add_number(OTHER_NUMBER)
    account.add_number(NUMBER)

    result = setup(VONAGE_NUMBER="+44 7700 900001")

    assert result.returncode == 0, result.stderr
    (linked,) = [r for r in account.requests if r.path == "/number/update"]
    assert linked.body["msisdn"] == NUMBER


@pytest.mark.parametrize(
    "numbers, settings, message",
    [
        (
            [],
            {},
            "this account has no number that takes calls: buy one in the dashboard (Numbers > "
            "Buy numbers, with Voice), then run this again",
        ),
        (
            [(NUMBER, ("VOICE",)), (OTHER_NUMBER, ("VOICE", "SMS")), ("447700900003", ("SMS",))],
            {},
            f"this account has 2 numbers that take calls (+{NUMBER}, +{OTHER_NUMBER}): set "
            "VONAGE_NUMBER in .env to the one to use",
        ),
        (
            [(NUMBER, ("VOICE",))],
            {"VONAGE_NUMBER": "+447700900999"},
            f"VONAGE_NUMBER='+447700900999' is not a number of this account: use one of +{NUMBER}",
        ),
    ],
    ids=["none", "several", "not in this account"],
)
def test_setup_without_one_clear_number_stops_naming_the_fix_and_changes_nothing(
    setup, account, setup_project, numbers, settings, message
):
    for msisdn, features in numbers:
        account.add_number(msisdn, features=features)

    result = setup(**settings)

    assert result.returncode == 2
    assert result.stderr == f"{message} (see .env.example)\n"
    assert account.changes() == []
    assert not (setup_project / "private.key").exists()


def test_a_number_linked_to_another_application_is_left_alone_without_force(setup, account):
    other = account.add_application({"name": "Someone's IVR", "capabilities": {}})
    account.add_number(NUMBER, app_id=other)

    result = setup()

    assert result.returncode == 2
    assert result.stderr == (
        f"+{NUMBER} is linked to another application, {other} (Someone's IVR): run again with "
        "--force to link it to this one, or set VONAGE_NUMBER to another of your numbers "
        "(see .env.example)\n"
    )
    assert account.changes() == []
    assert account.numbers[0]["app_id"] == other


def test_force_links_a_number_linked_to_another_application(setup, account):
    other = account.add_application({"name": "Someone's IVR", "capabilities": {}})
    account.add_number(NUMBER, app_id=other)

    result = setup("--force")

    assert result.returncode == 0, result.stderr
    (ours,) = set(account.applications) - {other}
    assert account.numbers[0]["app_id"] == ours


# --- failures: one line naming the fix, exit 2 ---


@pytest.mark.parametrize(
    "settings, missing",
    [
        ({"VONAGE_API_KEY": None}, "VONAGE_API_KEY is"),
        ({"VONAGE_API_SECRET": ""}, "VONAGE_API_SECRET is"),
        ({"VONAGE_API_KEY": None, "VONAGE_API_SECRET": None}, "VONAGE_API_KEY and "),
    ],
    ids=["no key", "empty secret", "neither"],
)
def test_setup_without_key_or_secret_says_where_to_find_them(setup, account, settings, missing):
    result = setup(**settings)

    assert result.returncode == 2
    assert result.stderr.startswith(missing)
    assert result.stderr.endswith(
        "not set: copy your API key and secret from dashboard.nexmo.com > API Settings into "
        ".env (in a Codespace, add them as Codespace secrets) (see .env.example)\n"
    )
    assert account.requests == []


FAILURES = {
    "wrong secret": (
        {"VONAGE_API_SECRET": "wrong-secret"},
        "Vonage refused VONAGE_API_KEY and VONAGE_API_SECRET (401): copy both again from "
        "dashboard.nexmo.com > API Settings",
    ),
    "no public URL": (
        {"PUBLIC_URL": None},
        "no public URL: Vonage calls this server from the internet. Run this in a GitHub "
        "Codespace, or start a tunnel (ngrok http 9000) and set PUBLIC_URL in .env to its "
        "https:// address",
    ),
    "localhost": (
        {"PUBLIC_URL": "http://localhost:9000"},
        "PUBLIC_URL='http://localhost:9000' is not reachable from the internet, so Vonage "
        "cannot call it: use a GitHub Codespace, or a tunnel's https:// address (ngrok http 9000)",
    ),
    "private address": (
        {"PUBLIC_URL": "http://192.168.1.20:9000"},
        "PUBLIC_URL='http://192.168.1.20:9000' is not reachable from the internet, so Vonage "
        "cannot call it: use a GitHub Codespace, or a tunnel's https:// address (ngrok http 9000)",
    ),
    "unknown application": (
        {"VONAGE_APPLICATION_ID": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"},
        "VONAGE_APPLICATION_ID=aaaaaaaa-bbbb-cccc-dddd-0123456789ab is not an application of "
        "this account (Vonage says 404): copy the id from the dashboard (Applications), or "
        "empty it in .env to create a new application",
    ),
    "not an id": (
        {"VONAGE_APPLICATION_ID": API_KEY},
        f"VONAGE_APPLICATION_ID='{API_KEY}' is not an application id (like "
        "aaaaaaaa-bbbb-cccc-dddd-0123456789ab): copy it from the dashboard (Applications), or "
        "empty it to create a new application",
    ),
}


@pytest.mark.parametrize("settings, message", FAILURES.values(), ids=FAILURES.keys())
def test_each_failure_is_one_line_naming_its_fix_with_exit_2(setup, account, settings, message):
    account.add_number(NUMBER)

    result = setup(**settings)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"{message} (see .env.example)\n"
    assert account.changes() == []


def test_vonage_busy_is_retried_with_backoff_and_then_succeeds(setup, account):
    account.add_number(NUMBER)
    account.busy = [429, 503]

    result = setup()

    assert result.returncode == 0, result.stderr
    assert [r.path for r in account.requests[:3]] == ["/account/numbers"] * 3
    assert len(account.applications) == 1


def test_vonage_busy_for_good_stops_with_a_clear_line(setup, account):
    account.add_number(NUMBER)
    account.busy = [503] * 10

    started = time.monotonic()
    result = setup()

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "Vonage is busy (503) and stayed busy after 3 retries: try again in a minute (status: "
        "https://vonageapi.statuspage.io) (see .env.example)\n"
    )
    assert len(account.requests) == 4
    assert time.monotonic() - started >= sum(vonage_setup.BUSY_DELAYS)


def test_a_server_error_on_create_is_not_repeated_so_no_second_application_is_made(setup, account):
    account.add_number(NUMBER)
    account.busy = [None, 502]  # the numbers are listed; the create fails

    result = setup()

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "Vonage failed (502) to create the application: look for a new application in the "
        "dashboard (Applications) and delete it, then run this again (see .env.example)\n"
    )
    assert [r.method for r in account.requests] == ["GET", "POST"]


def test_a_hung_network_stops_after_the_timeout(setup, account):
    account.hang = True

    started = time.monotonic()
    result = setup()

    assert time.monotonic() - started < vonage_setup.TIMEOUT + 5
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"Vonage did not answer within {vonage_setup.TIMEOUT} s: check your network connection "
        "and run this again (see .env.example)\n"
    )


def test_a_network_that_refuses_connections_says_so(setup):
    closed = f"127.0.0.1:{free_port()}"

    result = setup(VONAGE_SETUP_API_HOST=closed, VONAGE_SETUP_REST_HOST=closed)

    assert result.returncode == 2
    assert result.stderr == (
        "cannot reach Vonage: check your network connection (and any proxy), then run this "
        "again (see .env.example)\n"
    )


def test_an_unexpected_answer_stops_with_one_line_that_holds_no_secret(setup, account):
    # The SDK's validation error would quote the private key the answer carries.
    account.add_number(NUMBER)
    account.malformed = True

    result = setup()

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "setup-vonage.py stopped on an unexpected ValidationError (details are not shown, as "
        "they may hold a secret): run it again, or set Vonage up by hand (README: Tutorial "
        "walkthrough)\n"
    )
    assert account.private_keys  # the fake did hand out a key, which assert_no_secret checked


# --- the start-up check (item 4), called as the servers call it ---


@pytest.fixture
def check_env(account, api_secret, monkeypatch):
    """The settings a server reads, pointed at the fake; its CA trusted by this process."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(account.ca_file))
    return {
        "VONAGE_API_KEY": API_KEY,
        "VONAGE_API_SECRET": api_secret,
        "VONAGE_SETUP_API_HOST": account.host,
    }


@pytest.fixture
def check_log(caplog):
    caplog.set_level(logging.WARNING, logger="test-server")
    return logging.getLogger("test-server")


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "test-server"]


def test_startup_check_warns_once_when_vonage_sends_calls_elsewhere(
    account, check_env, check_log, caplog
):
    old = "https://old.ngrok.app"
    application_id = account.add_application(
        {
            "name": "demo",
            "capabilities": voice_document(
                {"address": old + "/webhooks/answer"}, {"address": old + "/webhooks/event"}
            ),
        }
    )

    thread = vonage_setup.check_webhooks_in_background(
        {**check_env, "VONAGE_APPLICATION_ID": application_id}, PUBLIC_URL, check_log
    )
    thread.join(10)

    assert warnings_of(caplog) == [
        f"Vonage sends application {application_id}'s calls to {old}/webhooks/answer and "
        f"events to {old}/webhooks/event, not to this server's {ANSWER_URL} and {EVENT_URL}: "
        "run .venv/bin/python setup-vonage.py to fix it"
    ]


def test_startup_check_is_silent_when_vonage_sends_calls_here(
    account, check_env, check_log, caplog
):
    application_id = account.add_application(
        {
            "name": "demo",
            "capabilities": voice_document(
                {"address": ANSWER_URL, "http_method": "POST"}, {"address": EVENT_URL}
            ),
        }
    )

    thread = vonage_setup.check_webhooks_in_background(
        {**check_env, "VONAGE_APPLICATION_ID": application_id}, PUBLIC_URL, check_log
    )
    thread.join(10)

    assert warnings_of(caplog) == []
    assert [r.path for r in account.requests] == [f"/v2/applications/{application_id}"]


@pytest.mark.parametrize("missing", ["VONAGE_API_KEY", "VONAGE_API_SECRET"])
def test_startup_check_without_key_or_secret_does_nothing(
    account, check_env, check_log, caplog, missing
):
    env = {**check_env, "VONAGE_APPLICATION_ID": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}
    del env[missing]

    assert vonage_setup.check_webhooks_in_background(env, PUBLIC_URL, check_log) is None
    assert account.requests == []
    assert warnings_of(caplog) == []


def test_startup_check_on_a_hung_api_returns_at_once_and_gives_up_quietly(
    account, check_env, check_log, caplog
):
    account.hang = True
    env = {**check_env, "VONAGE_APPLICATION_ID": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}

    started = time.monotonic()
    thread = vonage_setup.check_webhooks_in_background(env, PUBLIC_URL, check_log)
    returned_after = time.monotonic() - started
    thread.join(10)

    assert returned_after < 0.5
    assert thread.daemon
    assert time.monotonic() - started < vonage_setup.CHECK_TIMEOUT + 2
    assert warnings_of(caplog) == [
        "could not check where Vonage sends calls for application "
        f"aaaaaaaa-bbbb-cccc-dddd-0123456789ab: Vonage did not answer within "
        f"{vonage_setup.CHECK_TIMEOUT} s"
    ]


@pytest.mark.parametrize("script", ["scenario-1.py", "scenario-2.py"])
def test_a_server_warns_at_start_up_when_vonage_sends_its_calls_elsewhere(
    serve, account, api_secret, key_file, script
):
    old = "https://old.ngrok.app"
    capabilities = voice_document(
        {"address": old + "/webhooks/answer"}, {"address": old + "/webhooks/event"}
    )
    application_id = account.add_application({"name": "demo", "capabilities": capabilities})

    server = serve(
        script,
        PUBLIC_URL=PUBLIC_URL,
        VONAGE_API_KEY=API_KEY,
        VONAGE_API_SECRET=api_secret,
        VONAGE_APPLICATION_ID=application_id,
        VONAGE_PRIVATE_KEY=str(key_file),
        VONAGE_SETUP_API_HOST=account.host,
        REQUESTS_CA_BUNDLE=str(account.ca_file),
    )
    deadline = time.monotonic() + 10
    while "setup-vonage.py to fix it" not in server.printed() and time.monotonic() < deadline:
        time.sleep(0.1)

    printed = server.stop()
    assert printed.count(f"Vonage sends application {application_id}'s calls to {old}") == 1
    assert api_secret not in printed


def test_a_server_starts_at_once_when_the_account_api_hangs(serve, account, api_secret):
    account.hang = True

    server = serve(
        "scenario-1.py",
        PUBLIC_URL=PUBLIC_URL,
        VONAGE_API_KEY=API_KEY,
        VONAGE_API_SECRET=api_secret,
        VONAGE_APPLICATION_ID="aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        VONAGE_SETUP_API_HOST=account.host,
        REQUESTS_CA_BUNDLE=str(account.ca_file),
    )

    # It answers while the check still waits for Vonage (it gives up after CHECK_TIMEOUT).
    assert server.get("/webhooks/answer").status_code == 200
    assert "could not check" not in server.printed()
