"""Both scripts started as a user starts them: `python scenario-N.py` in a fresh folder."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import APPLICATION_ID

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = [
    "scenario-1.py",
    "scenario-2.py",
    "settings.py",
    "voice_api.py",
    "webhooks.py",
    "gunicorn.conf.py",
]


@pytest.fixture
def project(tmp_path):
    """A copy of the scripts with no .env and no private.key, like a fresh clone."""
    for name in SCRIPTS:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def clean_env(**settings):
    """The environment with none of the project's variables, plus `settings`."""
    ours = ("STREAM_", "CONF_NAME", "VONAGE_", "HOST", "PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return {**env, **settings}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(project, script, **settings):
    return subprocess.run(
        [sys.executable, script],
        cwd=project,
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=30,
    )


class Server:
    """A script or server command running as its own process on a free loopback port."""

    def __init__(self, project, command, settings):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = clean_env(HOST="127.0.0.1", PORT=str(self.port), **settings)
        command = [part.format(port=self.port) for part in command]
        self.process = subprocess.Popen(
            [sys.executable, *command],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                requests.get(self.base + "/", timeout=1)
                return
            except requests.ConnectionError:
                if self.process.poll() is not None:
                    pytest.fail(f"{command} exited: {self.process.stdout.read()}")
                time.sleep(0.1)
        pytest.fail(f"{command} did not start listening on {self.base}")

    def get(self, path):
        return requests.get(self.base + path, timeout=5)

    def stop(self):
        """Stop the server and return everything it printed."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if not self.process.stdout.closed:
            with self.process.stdout:
                self.printed = self.process.stdout.read()
        return self.printed


@pytest.fixture
def serve(project):
    """Start `python *command` ("{port}" in it is the free port) with settings in its
    environment; stopped after the test."""
    servers = []

    def start(*command, **settings):
        servers.append(Server(project, command, settings))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


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
    assert "Using worker: gthread" in printed
    assert printed.count("Booting worker") == 1
    assert printed.index("Booting worker") < printed.index("Scenario 2: in the Vonage dashboard")


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
