"""Both scripts started as a user starts them: `python scenario-N.py` in a fresh folder."""

import socket
import subprocess
import sys

import pytest
import requests
from conftest import APPLICATION_ID

from testing.processes import clean_env, free_port, run

TOKEN = "startup-owner-token-0123456789"


def test_scenario_1_serves_with_no_configuration_and_prints_the_urls_first(serve):
    server = serve("scenario-1.py")

    response = server.get("/webhooks/answer")

    assert response.json()[0]["action"] == "stream"
    printed = server.stop().splitlines()
    assert printed[0].startswith("Scenario 1: in the Vonage dashboard")
    assert f"  Answer URL  http://127.0.0.1:{server.port}/webhooks/answer" in printed


def test_scenario_2_serves_once_application_id_and_key_are_set(serve, key_file):
    server = serve(
        "scenario-2.py", VONAGE_APPLICATION_ID=APPLICATION_ID, VONAGE_PRIVATE_KEY=str(key_file)
    )

    response = server.get("/webhooks/answer?uuid=leg-1")

    assert response.json()[1] == {"action": "conversation", "name": "Soothing Conference"}
    printed = server.stop()
    assert f"  http://127.0.0.1:{server.port}/stream  (play music into the conference)" in printed
    assert "PRIVATE KEY" not in printed


@pytest.mark.parametrize("scenario", ["scenario-1", "scenario-2"])
def test_flask_run_serves_each_scenario_as_flask_users_expect(serve, key_file, scenario):
    server = serve(
        "-m",
        "flask",
        "--app",
        scenario,
        "run",
        "--port",
        "{port}",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
    )

    assert server.get("/webhooks/answer").status_code == 200


def test_gunicorn_serves_scenario_2_as_one_process_with_threads(serve, key_file):
    server = serve(
        "-m",
        "gunicorn",
        "scenario-2:create_app()",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
    )

    assert server.get("/webhooks/answer?uuid=leg-1").json()[0]["action"] == "talk"
    event = requests.post(
        server.base + "/webhooks/event", json={"uuid": "leg-1", "status": "completed"}, timeout=5
    )
    assert event.status_code == 200
    printed = server.stop()
    assert printed.startswith("Scenario 2: in the Vonage dashboard")  # built before the worker
    assert printed.count("Scenario 2: in the Vonage dashboard") == 1
    assert "Using worker: gthread" in printed
    assert printed.count("Booting worker") == 1


def test_gunicorns_access_log_hides_the_control_token_in_the_link_and_the_referer(serve, key_file):
    server = serve(
        "-m",
        "gunicorn",
        "scenario-2:create_app()",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        CONTROL_TOKEN=TOKEN,
    )
    requests.get(
        server.base + "/status",
        params={"token": TOKEN},
        headers={"Referer": f"{server.base}/?token={TOKEN}"},
        timeout=5,
    )

    printed = server.stop()

    assert TOKEN not in printed
    assert '"GET /status?token=<hidden> HTTP/1.1" 200' in printed  # the log is there
    assert f'"{server.base}/?token=<hidden>"' in printed


def test_gunicorn_stops_with_status_2_on_a_bad_setting_instead_of_rebooting(project):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "scenario-2:create_app()"],
        cwd=project,
        env=clean_env(HOST="127.0.0.1", PORT=str(free_port()), VONAGE_APPLICATION_ID="bad"),
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "VONAGE_APPLICATION_ID='bad' is not allowed" in result.stderr
    assert "Booting worker" not in result.stderr


def test_flask_run_prints_the_port_flask_listens_on(serve, key_file):
    server = serve("-m", "flask", "--app", "scenario-1", "run", "--port", "{port}", PORT="1234")

    assert f"  Answer URL  http://127.0.0.1:{server.port}/webhooks/answer" in server.stop()


def test_scenario_2_without_credentials_exits_2_with_one_line_per_problem(project):
    result = run(project, "scenario-2.py")

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert [line.split(" ")[0] for line in lines] == [
        "VONAGE_APPLICATION_ID",
        "VONAGE_PRIVATE_KEY:",
    ]
    assert f"no key file at {project / 'private.key'}" in lines[1]
    assert "Traceback" not in result.stderr


def test_bad_values_stop_startup_naming_each_variable_and_value(project, key_file):
    result = run(
        project,
        "scenario-2.py",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        STREAM_LEVEL="3",
        STREAM_LOOP="-1",
        STREAM_URL="ftp://example.com/a.mp3",
        PORT="abc",
    )

    assert result.returncode == 2
    assert [line.split(" is not allowed")[0] for line in result.stderr.splitlines()] == [
        "STREAM_URL='ftp://example.com/a.mp3'",
        "STREAM_LEVEL='3'",
        "STREAM_LOOP='-1'",
        "PORT='abc'",
    ]
    assert "Traceback" not in result.stderr


def test_scenario_1_stops_on_a_bad_value_too(project):
    result = run(project, "scenario-1.py", PORT="abc")

    assert result.returncode == 2
    assert result.stderr.startswith("PORT='abc' is not allowed")


def test_a_dotenv_file_next_to_the_scripts_is_read(project, key_file):
    (project / ".env").write_text(
        f"VONAGE_APPLICATION_ID={APPLICATION_ID}\nVONAGE_PRIVATE_KEY={key_file}\nSTREAM_LEVEL=9\n"
    )

    result = run(project, "scenario-2.py")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "STREAM_LEVEL='9' is not allowed: give a number from -1 to 1 in steps of 0.1, such as 0.5 "
        "(see .env.example)"
    ]


def test_a_key_that_is_not_pem_never_appears_in_the_output(project):
    (project / "private.key").write_text("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-not-really-a-key\n")

    result = run(project, "scenario-2.py", VONAGE_APPLICATION_ID=APPLICATION_ID)

    assert result.returncode == 2
    assert "is not a private key in PEM form" in result.stderr
    assert "MIIEvQ" not in result.stderr + result.stdout


def test_a_port_in_use_is_named_with_its_fix(project):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run(project, "scenario-1.py", HOST="127.0.0.1", PORT=str(port))

    assert result.returncode == 2
    assert result.stderr == (
        f"PORT={port} is in use by another program: stop it, or set PORT to a free port "
        "(see .env.example)\n"
    )


def test_a_host_that_is_not_this_machine_is_named_with_its_fix(project):
    result = run(project, "scenario-1.py", HOST="no such host")

    assert result.returncode == 2
    assert result.stderr.startswith("HOST='no such host' is not an address of this machine")


def test_when_the_output_is_not_a_terminal_the_banner_masks_the_control_token(serve, key_file):
    server = serve(
        "scenario-2.py",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        CONTROL_TOKEN=TOKEN,
    )
    requests.get(server.base + "/status", params={"token": TOKEN}, timeout=5)

    printed = server.stop()

    assert TOKEN not in printed
    lines = printed.splitlines()
    assert f"  {server.base}/?token=<CONTROL_TOKEN>  (the control page)" in lines
    assert any(line.startswith("  <CONTROL_TOKEN> is your CONTROL_TOKEN") for line in lines)


def test_in_a_terminal_the_banner_links_carry_the_token_and_the_access_log_still_hides_it(
    serve, key_file
):
    server = serve(
        "scenario-2.py",
        terminal=True,
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        CONTROL_TOKEN=TOKEN,
    )
    requests.get(server.base + "/status", params={"token": TOKEN}, timeout=5)

    lines = server.stop().splitlines()

    assert [line for line in lines if TOKEN in line] == [
        f"  {server.base}/?token={TOKEN}  (the control page)",
        f"  {server.base}/stream?token={TOKEN}  (play music into the conference)",
        f"  {server.base}/stream/stop?token={TOKEN}  (stop the music)",
    ]
    assert any('"GET /status?token=<hidden> HTTP/1.1" 200' in line for line in lines)
    assert "<CONTROL_TOKEN>" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("script", "argument"),
    [("scenario-1.py", "--forget-legs"), ("scenario-2.py", "--forget-leg"), ("scenario-3.py", "x")],
)
def test_an_argument_a_script_does_not_take_stops_it_before_it_serves(project, script, argument):
    result = run(project, script, argument)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.endswith(f"error: unrecognized arguments: {argument}\n")


def test_help_lists_what_each_script_takes_and_serves_nothing(project):
    result = run(project, "scenario-2.py", "--help")

    assert result.returncode == 0
    assert "--forget-legs" in result.stdout and "Answer URL" not in result.stdout
