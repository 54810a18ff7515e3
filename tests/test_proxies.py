"""TRUSTED_PROXIES: behind a platform's proxy, logs and refusals name the caller, not the proxy;
off by default, so no caller can forge the address we log."""

import logging

import pytest
import requests

import settings as config
from testing.processes import run

SECRET = "a-signature-secret-of-32-chars-or-more"
TOKEN = "owner-token-0123456789"
CALLER = "203.0.113.9"  # the address the platform's proxy saw and appended
FORGED = "198.51.100.66"  # what a caller wrote in the header themselves


@pytest.fixture(params=["scenario1", "scenario2"])
def make_app(request, settings2):
    """Either scenario with signed webhooks, behind `trusted_proxies` proxies."""
    module = request.getfixturevalue(request.param)

    def make(trusted_proxies=0):
        settings = config.Settings(
            **{**vars(settings2), "signature_secret": SECRET, "trusted_proxies": trusted_proxies}
        )
        return module.create_app(settings)

    return make


def refusals(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_by_default_a_forged_x_forwarded_for_changes_nothing_in_the_refusal_log(make_app, caplog):
    client = make_app().test_client()

    client.get("/webhooks/event?uuid=leg-1", headers={"X-Forwarded-For": FORGED})

    assert refusals(caplog) == ["refused '/webhooks/event' from 127.0.0.1: no signed token"]


def test_behind_one_proxy_the_refusal_log_names_the_forwarded_address(make_app, caplog):
    client = make_app(trusted_proxies=1).test_client()

    client.get("/webhooks/event?uuid=leg-1", headers={"X-Forwarded-For": CALLER})

    assert refusals(caplog) == [f"refused '/webhooks/event' from {CALLER}: no signed token"]


def test_behind_one_proxy_an_address_the_caller_wrote_before_the_proxys_is_ignored(
    make_app, caplog
):
    client = make_app(trusted_proxies=1).test_client()

    client.get("/webhooks/event", headers={"X-Forwarded-For": f"{FORGED}, {CALLER}"})

    assert refusals(caplog) == [f"refused '/webhooks/event' from {CALLER}: no signed token"]


def test_behind_two_proxies_the_caller_is_the_second_address_from_the_right(make_app, caplog):
    client = make_app(trusted_proxies=2).test_client()

    client.get("/webhooks/event", headers={"X-Forwarded-For": f"{FORGED}, {CALLER}, 10.0.0.7"})

    assert refusals(caplog) == [f"refused '/webhooks/event' from {CALLER}: no signed token"]


def test_behind_one_proxy_a_refused_owner_request_names_the_forwarded_address(
    scenario2, settings2, caplog
):
    settings = config.Settings(**{**vars(settings2), "control_token": TOKEN, "trusted_proxies": 1})
    client = scenario2.create_app(settings).test_client()

    response = client.get("/stream", headers={"X-Forwarded-For": f"{FORGED}, {CALLER}"})

    assert response.status_code == 401
    assert refusals(caplog) == [f"refused /stream from {CALLER}: wrong or missing token"]


@pytest.mark.parametrize(
    "command",
    [
        ["scenario-1.py"],
        ["-m", "gunicorn", "--access-logfile", "-", "scenario-1:create_app()"],
    ],
    ids=["development server", "gunicorn"],
)
def test_both_servers_log_the_forwarded_address_when_told_to_trust_one_proxy(serve, command):
    server = serve(*command, TRUSTED_PROXIES="1", VONAGE_SIGNATURE_SECRET=SECRET)

    requests.get(
        server.base + "/webhooks/event?uuid=leg-1",
        headers={"X-Forwarded-For": f"{FORGED}, {CALLER}"},
        timeout=5,
    )

    printed = server.stop()
    assert f"refused '/webhooks/event' from {CALLER}: no signed token" in printed
    [access] = [line for line in printed.splitlines() if "GET /webhooks/event" in line]
    assert access.startswith(f"{CALLER} - - [")
    assert FORGED not in printed
    assert "callers' addresses from X-Forwarded-For (1 proxy)" in printed


def test_without_the_setting_the_servers_log_the_address_that_connected(serve):
    server = serve("scenario-1.py", VONAGE_SIGNATURE_SECRET=SECRET)

    requests.get(
        server.base + "/webhooks/event?uuid=leg-1",
        headers={"X-Forwarded-For": FORGED},
        timeout=5,
    )

    printed = server.stop()
    assert "refused '/webhooks/event' from 127.0.0.1: no signed token" in printed
    [access] = [line for line in printed.splitlines() if "GET /webhooks/event" in line]
    assert access.startswith("127.0.0.1 - - [")
    assert FORGED not in printed and "X-Forwarded-For" not in printed


@pytest.mark.parametrize("raw", ["yes", "-1", "1.5", "one"])
def test_a_bad_trusted_proxies_stops_startup_with_one_line_naming_its_fix(project, raw):
    result = run(project, "scenario-1.py", TRUSTED_PROXIES=raw)

    assert result.returncode == 2
    assert result.stderr == (
        f"TRUSTED_PROXIES={raw!r} is not allowed: give how many proxies in front of this server "
        "add X-Forwarded-For: a whole number, such as 1 behind one load balancer, or 0 for none "
        "(see .env.example)\n"
    )


@pytest.mark.parametrize(("raw", "expected"), [("", 0), ("0", 0), ("1", 1), (" 2 ", 2)])
def test_trusted_proxies_is_off_unless_set_to_a_count(raw, expected):
    settings = config.load({"TRUSTED_PROXIES": raw})

    assert settings.trusted_proxies == expected
