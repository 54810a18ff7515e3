"""Gunicorn keeps the development server's promises: every setting it takes from us is checked
first (one line, exit status 2), and it writes an access log, with tokens hidden."""

import time

import pytest
import requests
from conftest import APPLICATION_ID

from testing.processes import run

TOKEN = "gunicorn-owner-token-0123456789"
SERVE = ["serve.py", "scenario-2"]  # the README's production command
GUNICORN = ["-m", "gunicorn", "scenario-2:create_app()"]  # Gunicorn's own, also documented


def start(project, command, dotenv="", **env):
    """Run `python *command` in the project until it exits, timed, as a user would."""
    (project / ".env").write_text(dotenv)
    started = time.monotonic()
    result = run(project, *command, **env)
    result.seconds = time.monotonic() - started
    return result


@pytest.mark.parametrize(
    ("command", "dotenv", "env", "line"),
    [
        (
            SERVE,
            "",
            {"WEB_CONCURRENCY": "abc"},
            "WEB_CONCURRENCY='abc' is not allowed: give how many worker processes, 1 to 64; "
            "one per CPU core is a good start (see .env.example)",
        ),
        (
            SERVE,
            "",
            {"WEB_CONCURRENCY": "0"},
            "WEB_CONCURRENCY='0' is not allowed: give how many worker processes, 1 to 64; "
            "one per CPU core is a good start (see .env.example)",
        ),
        (
            GUNICORN,
            "WEB_CONCURRENCY=abc\n",
            {},
            "WEB_CONCURRENCY='abc' is not allowed: give how many worker processes, 1 to 64; "
            "one per CPU core is a good start (see .env.example)",
        ),
        (
            GUNICORN,
            "",
            {"PORT": "abc"},
            "PORT='abc' is not allowed: give a port number from 1 to 65535, such as 9000 "
            "(see .env.example)",
        ),
        (
            SERVE,
            "PORT=70000\n",
            {},
            "PORT='70000' is not allowed: give a port number from 1 to 65535, such as 9000 "
            "(see .env.example)",
        ),
        (
            SERVE,
            "",
            {"HOST": "999.1.1.1"},
            "HOST='999.1.1.1' is not an address of this machine: use localhost, 127.0.0.1, or "
            "0.0.0.0 for every interface (see .env.example)",
        ),
    ],
    ids=[
        "serve bad workers",
        "serve zero workers",
        "dotenv workers",
        "port",
        "dotenv port",
        "host",
    ],
)
def test_a_setting_gunicorn_takes_is_refused_in_one_line_with_exit_2(
    project, command, dotenv, env, line
):
    result = start(project, command, dotenv, **env)

    assert (result.returncode, result.stderr) == (2, line + "\n")
    assert result.seconds < 5  # no retries to bind


def test_an_empty_web_concurrency_in_the_environment_means_one_worker(serve, key_file):
    server = serve(
        *SERVE,
        WEB_CONCURRENCY="",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
    )

    assert server.get("/webhooks/answer?uuid=leg-1").status_code == 200
    assert server.stop().count("Booting worker") == 1


def test_serve_takes_web_concurrency_from_the_environment(serve, key_file):
    server = serve(
        *SERVE,
        WEB_CONCURRENCY="2",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
    )

    time.sleep(1)  # both workers boot
    assert server.stop().count("Booting worker") == 2


USAGE = "usage: python serve.py {scenario-1,scenario-2,scenario-3} [GUNICORN OPTIONS]\n"


@pytest.mark.parametrize("arguments", [["scenario-9"], []], ids=["unknown", "none"])
def test_a_missing_or_unknown_scenario_gets_the_usage_line_and_starts_nothing(project, arguments):
    result = start(project, ["serve.py", *arguments])

    assert (result.returncode, result.stdout, result.stderr) == (2, "", USAGE)


def test_serve_help_prints_the_usage_line(project):
    result = start(project, ["serve.py", "--help"])

    assert (result.returncode, result.stdout) == (0, USAGE)


@pytest.mark.parametrize("command", [SERVE, GUNICORN], ids=["serve", "gunicorn"])
def test_gunicorn_logs_each_request_in_its_own_format_hiding_tokens_and_health_checks(
    serve, key_file, command
):
    server = serve(
        *command,
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        CONTROL_TOKEN=TOKEN,
    )
    requests.get(server.base + "/webhooks/answer?uuid=leg-1", timeout=5)
    requests.get(server.base + "/status", params={"token": TOKEN}, timeout=5)
    requests.get(server.base + "/healthz", timeout=5)

    printed = server.stop()

    assert TOKEN not in printed
    requests_logged = [
        line
        for line in printed.splitlines()
        if 'HTTP/1.1"' in line and ("/webhooks/" in line or "/status" in line)
    ]
    assert len(requests_logged) == 2
    assert '"GET /webhooks/answer?uuid=leg-1 HTTP/1.1" 200' in requests_logged[0]
    assert '"GET /status?token=<hidden> HTTP/1.1" 200' in requests_logged[1]
    assert "/healthz" not in printed
