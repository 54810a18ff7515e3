"""Fixtures shared by the tests: generated keys, settings, and apps with their test clients."""

import importlib
import os
import secrets
import shutil

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import settings as config
from testing.fake_account_api import FakeAccountApi
from testing.fake_voice_api import FakeVoiceApi
from testing.processes import (
    PROJECT_FILES,
    PROJECT_FOLDERS,
    ROOT,
    DidNotStart,
    RedisServer,
    Server,
)

APPLICATION_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
API_KEY = "a1b2c3d4"  # the account's API key (not a secret; its secret is made per test)
OWNER = "447700900099"  # scenario 3's MAILBOX_OWNER


@pytest.fixture(scope="session")
def rsa_key():
    """An RSA key made for this test run; nothing real is ever committed."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def private_pem(rsa_key):
    """The test key as PKCS#8 PEM text, the form Vonage's dashboard downloads."""
    return rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def key_file(tmp_path, private_pem):
    """The test key saved as a file, as a user saves private.key."""
    path = tmp_path / "private.key"
    path.write_text(private_pem)
    return path


@pytest.fixture(scope="session")
def scenario1():
    """The scenario-1.py module (its name has a hyphen, so import it by name)."""
    return importlib.import_module("scenario-1")


@pytest.fixture(scope="session")
def scenario2():
    """The scenario-2.py module."""
    return importlib.import_module("scenario-2")


@pytest.fixture
def client1(scenario1):
    """A test client for scenario 1 with default settings."""
    return scenario1.create_app(config.Settings()).test_client()


@pytest.fixture
def settings2(private_pem, tmp_path):
    """Scenario 2's settings with the test application id and key, and its state in an SQLite
    file of the test's own."""
    return config.Settings(
        application_id=APPLICATION_ID,
        private_key=private_pem,
        state_url=f"sqlite:///{tmp_path}/conference.sqlite3",
    )


@pytest.fixture
def app2(scenario2, settings2):
    """Scenario 2's app, fresh for each test so no live legs leak between tests."""
    return scenario2.create_app(settings2)


@pytest.fixture
def client2(app2):
    """A test client for scenario 2."""
    return app2.test_client()


@pytest.fixture
def conference(app2):
    """Scenario 2's store: its live legs, the leg music plays on, the quorum round."""
    return app2.extensions["conference"]


def live_legs(conference):
    """The conference's live legs by uuid, oldest first, as /status shows them."""
    return {leg["uuid"]: leg for leg in conference.snapshot()["legs"]}


def streaming_on(conference):
    """The uuid of the leg the music plays on, or None."""
    return conference.snapshot()["streaming_on"]


@pytest.fixture
def project(tmp_path):
    """A copy of the scripts, templates and static files with no .env and no private.key, like
    a fresh clone."""
    for name in PROJECT_FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    for name in PROJECT_FOLDERS:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.fixture
def serve(project):
    """Start `python *command` ("{port}" in it is the free port) with settings in its
    environment, its output to a file (or, with `terminal=True`, a terminal); stopped after the
    test."""
    servers = []

    def start(*command, terminal=False, **settings):
        try:
            servers.append(Server(project, command, settings, terminal=terminal))
        except DidNotStart as error:
            pytest.fail(str(error))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fake_api(tmp_path, rsa_key):
    """A fake Voice API over HTTPS on 127.0.0.1 that knows the test application's public key."""
    api = FakeVoiceApi(tmp_path, rsa_key.public_key(), APPLICATION_ID)
    yield api
    api.stop()


@pytest.fixture
def serve_scenario_2(serve, key_file, fake_api):
    """Start `python scenario-2.py` configured for the fake Voice API, plus `settings`."""

    def start(**settings):
        return serve(
            "scenario-2.py",
            VONAGE_APPLICATION_ID=APPLICATION_ID,
            VONAGE_PRIVATE_KEY=str(key_file),
            VONAGE_API_HOST=fake_api.host,
            REQUESTS_CA_BUNDLE=str(fake_api.ca_file),
            **settings,
        )

    return start


@pytest.fixture
def serve_scenario_3(serve, key_file, fake_api):
    """Start `python scenario-3.py` configured for the fake Voice API, plus `settings`."""

    def start(**settings):
        defaults = {
            "VONAGE_APPLICATION_ID": APPLICATION_ID,
            "VONAGE_PRIVATE_KEY": str(key_file),
            "VONAGE_API_HOST": fake_api.host,
            "REQUESTS_CA_BUNDLE": str(fake_api.ca_file),
            "MAILBOX_OWNER": OWNER,
        }
        return serve("scenario-3.py", **{**defaults, **settings})

    return start


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server for the session (Debian's package `redis-server`)."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("no redis-server: CI must install it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (sudo apt-get install redis-server)")
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
    except DidNotStart as error:
        pytest.fail(str(error))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, running and empty for this test."""
    if redis_server.process.poll() is not None:
        redis_server.start()  # a test stopped it
    redis_server.resume()
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(params=["sqlite", "redis"])
def state_url(request, tmp_path):
    """STATE_URL for each store: a fresh SQLite file, then the real Redis, empty."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/conference.sqlite3"
    return request.getfixturevalue("redis_url")


@pytest.fixture
def api_secret():
    """The account's API secret, made for this test: it must never be printed."""
    return secrets.token_hex(8)


@pytest.fixture
def account(tmp_path, api_secret):
    """The fake account APIs, with no application and no number yet."""
    folder = tmp_path / "tls"
    folder.mkdir()
    api = FakeAccountApi(folder, API_KEY, api_secret)
    yield api
    api.stop()


@pytest.fixture(scope="session")
def scenario3():
    """The scenario-3.py module."""
    return importlib.import_module("scenario-3")


@pytest.fixture
def settings3(settings2):
    """Scenario 3's settings: the test application, an SQLite file of the test's own, and
    MAILBOX_OWNER, with the PUBLIC_URL its NCCOs name."""
    return config.Settings(
        **{**vars(settings2), "mailbox_owner": OWNER, "public_url": "https://vm.example.com"}
    )


@pytest.fixture
def app3(scenario3, settings3):
    """Scenario 3's app, fresh for each test."""
    app = scenario3.create_app(settings3)
    yield app
    app.extensions["downloads"].stop()
    app.extensions["mailbox"].close()


@pytest.fixture
def client3(app3):
    """A test client for scenario 3."""
    return app3.test_client()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from the system; Playwright's own browser downloads cannot work here.
    On a user's machine without Chromium the page tests are skipped; in CI (CI=true) they run."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: CI must install it (apt-get install chromium)")
        pytest.skip("Chromium is not installed (sudo apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
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
